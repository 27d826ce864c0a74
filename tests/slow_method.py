"""A plug-in method for the resume tests: identity that sleeps, so a run can be killed mid-way."""

import time

from baselines.base import Method


class Sleepy(Method):
    name = "sleepy"
    max_batch = 8

    def __init__(self, seconds: float = 0.2):
        self.seconds = seconds

    def config(self):
        return {"name": self.name, "seconds": self.seconds}

    def restore(self, batch, context):
        time.sleep(self.seconds)
        return batch.clone()


def make(seconds: float = 0.2):
    return Sleepy(seconds)


def make_identity():
    """A plug-in whose records are named like the built-in ``identity``."""
    method = Sleepy(0.0)
    method.name = "identity"
    return method
