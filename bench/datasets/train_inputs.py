"""The training data a recipe names, found on disk: :class:`abair.train.inputs.TrainData`.

A recipe's ``data.clean`` lists clean image sets and ``data.train`` maps a degradation to its
training set (``--clean-data`` and ``--train-data`` replace them on the command line). Each entry is

- a registered training set (``abair-bench datasets list``: ``div2k-train``, ``rain100l-train``, ...)
  found under the data root in any of its layouts, paired as strictly as a test set;
- ``hf:<local dir>``: a Hugging Face dataset saved to disk (clean images: a ``clean`` or ``image``
  column; pairs: ``degraded`` and ``clean`` columns, as ``abair-bench datasets export`` writes them);
- a folder (searched recursively for PNG/JPEG/WebP/TIFF/BMP) or a text file listing image paths:
  clean images;
- for ``data.train`` only, a registered *test* set name (its pairs; training on a test set is the
  user's choice).

Nothing is decoded here: files are listed (and their headers read when training starts). Every
missing set is reported at once, in one line, with where it was looked for.
"""

from __future__ import annotations

from pathlib import Path

from abair.errors import UserError
from abair.train.inputs import TrainData
from abair.train.sources import ConcatSource, FileSource, ImageSource, PairSource, collect_images

HF_PREFIX = "hf:"


class HfImages(ImageSource):
    """The images of one column of a Hugging Face dataset on disk, decoded one row at a time."""

    def __init__(self, ref: str):
        from .real.hf import _open, undecoded

        self.ref = ref
        self.table, _ = _open(ref)
        names = set(self.table.column_names)
        column = next((c for c in ("clean", "image") if c in names), None)
        if column is None:
            raise UserError(f"hf:{ref} has no 'clean' or 'image' column (columns: {', '.join(sorted(names))})")
        self.column = column
        self.table = undecoded(self.table)  # decoded here, within the decode budget

    def __len__(self) -> int:
        return len(self.table)

    def name(self, index: int) -> str:
        return f"hf:{self.ref}[{index}]"

    def _image(self, index: int):
        try:
            return self.table[index][self.column]
        except Exception as exc:
            raise UserError(f"{self.name(index)} could not be read ({type(exc).__name__})") from None

    def size(self, index: int) -> tuple[int, int]:
        from .real.hf import cell_size

        return cell_size(self._image(index), self.name(index), "training image")

    def read(self, index: int):
        from .real.hf import decode_cell

        return decode_cell(self._image(index), self.name(index), "training image")


class DatasetPairs(PairSource):
    """The pairs of a benchmark :class:`~bench.datasets.base.Dataset` (a test set or ``hf:`` pairs),
    loaded one pair at a time."""

    def __init__(self, dataset):
        self.dataset = dataset
        self.ids = dataset.image_ids()

    def __len__(self) -> int:
        return len(self.ids)

    def name(self, index: int) -> str:
        return f"{self.dataset.name}/{self.ids[index]}"

    def size(self, index: int) -> tuple[int, int]:
        return tuple(self.dataset.load(self.ids[index]).clean.shape[:2])

    def read(self, index: int):
        pair = self.dataset.load(self.ids[index])
        return pair.degraded, pair.clean


class _Missing(UserError):
    """A set that could not be found (collected so that all are reported together)."""


def _registered(name: str) -> bool:
    from .training import training_set_names

    return name in training_set_names()


def _find(name: str, data_root: str | None, dataset_paths: dict | None, allow_partial: bool):
    from .training import find_training_set

    try:
        return find_training_set(name, data_root, dataset_paths, allow_partial=allow_partial)
    except UserError as exc:
        raise _Missing(str(exc)) from None


def clean_source(entries: list[str], data_root: str | None = None, dataset_paths: dict | None = None,
                 allow_partial: bool = False) -> ImageSource:
    """One source over every clean image the entries name (in order; see the module docstring)."""
    sources, missing = [], []
    for entry in entries:
        try:
            sources.append(_clean_one(entry, data_root, dataset_paths, allow_partial))
        except _Missing as exc:
            missing.append(str(exc))
    if missing:
        raise UserError("; ".join(missing))
    return sources[0] if len(sources) == 1 else ConcatSource(sources)


def _clean_one(entry: str, data_root, dataset_paths, allow_partial) -> ImageSource:
    if entry.startswith(HF_PREFIX):
        return HfImages(entry[len(HF_PREFIX):])
    if _registered(entry):
        found = _find(entry, data_root, dataset_paths, allow_partial)
        if found.source is not None:
            return found.source
        files = list(found.clean) if found.kind == "clean" else [c for _, c in found.pairs]
        return FileSource(files)
    path = Path(entry).expanduser()
    if path.exists():
        return FileSource(collect_images(path))
    from abair.errors import did_you_mean

    from .training import training_set_names

    raise _Missing(f"clean image set '{entry}' is neither a registered training set{did_you_mean(entry, training_set_names())} "
                   "nor an existing folder or image list")


def task_source(entry: str | list[str], data_root: str | None = None, dataset_paths: dict | None = None,
                allow_partial: bool = False) -> PairSource | ImageSource:
    """The training set of one degradation: pairs, or clean images the degradation is synthesised on."""
    entries = entry if isinstance(entry, list) else [entry]
    if len(entries) == 1:
        one = entries[0]
        if _registered(one):
            found = _find(one, data_root, dataset_paths, allow_partial)
            if found.source is not None:
                return found.source
            return PairSource.from_files(found.pairs) if found.kind == "pairs" else FileSource(found.clean)
        pairs = _pairs_from_benchmark(one, data_root, dataset_paths, allow_partial)
        if pairs is not None:
            return pairs
    return clean_source(entries, data_root, dataset_paths, allow_partial)


def _pairs_from_benchmark(name: str, data_root, dataset_paths, allow_partial) -> PairSource | None:
    """A test set or ``hf:`` pairs as training pairs; None when ``name`` is not a paired benchmark set."""
    from . import DATASETS, DatasetOptions, get_dataset

    if not name.startswith(HF_PREFIX) and name not in DATASETS.names():
        return None
    if name.startswith(HF_PREFIX):
        from .real.hf import _open

        if "degraded" not in _open(name[len(HF_PREFIX):])[0].column_names:
            return None  # clean images only
    options = DatasetOptions(data_root=data_root, dataset_paths=dict(dataset_paths or {}), allow_partial=allow_partial)
    return DatasetPairs(get_dataset(name, options))


def _check_real_sets(fraction: float, adapters: list[str], train: dict) -> None:
    missing = [name for name in adapters if name not in train]
    if missing:
        raise UserError(f"phase3.real_fraction is {fraction:g}: Phase III trains the estimator on the degraded images "
                        f"of each adapter's training set, and these adapters have none: {', '.join(missing)}; give "
                        f"each one (--train-data {missing[0]}=SET; a clean image set is degraded at the task's test "
                        "settings) or --set phase3.real_fraction=0")


#: the recipe sections each training action reads
_NEEDS = {
    "phase1": ("clean",), "phase2": ("clean", "train"), "phase3": ("clean",), "all": ("clean", "train"),
    "adapter": ("clean", "train"), "estimator": ("clean",),
}


def train_data(recipe: dict, action: str, data_root: str | None = None, dataset_paths: dict | None = None,
               allow_partial: bool = False, only: str | None = None) -> TrainData:
    """The :class:`TrainData` of ``recipe``'s ``data`` block for a training ``action`` (``phase1``,
    ``phase2``, ``phase3``, ``all``, ``adapter``, ``estimator``); ``only``: the one adapter trained.

    Every set the action needs is looked up before any training starts; all missing ones are
    reported together in one UserError line."""
    block = recipe.get("data", {})
    needs = _NEEDS[action]
    train = dict(block.get("train", {})) if "train" in needs else {}
    if action == "phase1" and recipe["phase1"].get("data") == "task-only":
        train = dict(block.get("train", {}))
    real = recipe["phase3"].get("real_fraction", 0.0) if action in ("phase3", "estimator", "all") else 0.0
    if real > 0:  # Phase III draws that share of its samples from the task training sets
        train = dict(block.get("train", {}))
        if action != "estimator":  # (the estimator's adapters are the checkpoint's: checked when it loads)
            _check_real_sets(real, recipe["model"]["adapters"], train)
    if only is not None:
        train = {k: v for k, v in train.items() if k == only}
    missing, tasks, clean = [], {}, None
    for name, entry in train.items():
        try:
            tasks[name] = task_source(entry, data_root, dataset_paths, allow_partial)
        except UserError as exc:
            missing.append(f"{name}: {exc}")
    if block.get("clean"):
        try:
            clean = clean_source(list(block["clean"]), data_root, dataset_paths, allow_partial)
        except UserError as exc:
            missing.append(str(exc))
    if missing:
        raise UserError(problems_message(missing, data_root))
    return TrainData(clean=clean, tasks=tasks)


def problems_message(problems: list[str], data_root: str | None = None) -> str:
    """The training sets that cannot be used, one short line each under a heading line: a set not
    found reads ``NAME: not found under data root R``; where it is searched (every layout) is left to
    the last line's pointers, and any other problem (a set found but incomplete or unreadable) is
    its own message cut to 200 characters."""
    from abair.errors import shorten

    lines = []
    for problem in problems:
        head, searched, _ = problem.partition(" (searched ")
        lines.append(f"  {head}" if searched else f"  {shorten(problem, 200)}")
    check = f"abair-bench datasets check --data-root {data_root}" if data_root else "abair-bench datasets check"
    return (f"training data: {len(problems)} set(s) missing or unusable:\n" + "\n".join(lines)
            + f"\n  where each is looked for and where to get it: '{check}' and docs/DATASETS.md; "
            "--dataset-path NAME=PATH points at one, --allow-partial takes an incomplete set")
