"""A plug-in method for the ``--jobs`` tests: identity, but NaN on the images of one rank, so that rank
alone refuses its output while the others go on."""

import os

from baselines.base import Method


class NanOnRank(Method):
    name = "nan-on-rank"
    max_batch = 1

    def __init__(self, rank: int = 1):
        self.rank = rank

    def config(self):
        return {"name": self.name, "rank": self.rank}

    def restore(self, batch, context):
        out = batch.clone()
        if os.environ.get("RANK", "0") == str(self.rank):
            out.fill_(float("nan"))
        return out


def make(rank: int = 1):
    return NanOnRank(rank)
