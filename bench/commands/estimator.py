"""``abair-bench estimator eval``: top-1 accuracy and confusion matrix of ABAIR's degradation estimator.

The test sets are the single-degradation sets of a suite (or ``--datasets``) whose degradation has an
adapter scored by the estimator ("the trained degradations"). For each degraded image (uint8 -> float
[0, 1], at its native size; the estimator takes its own windows) the predicted class is the arg-max of
``model.estimate``; the true class is the dataset's degradation. ``--sizes`` evaluates per input size on
the mini suite's source images instead (:mod:`bench.estimator_sizes`). Nothing heavy at module level.
"""

from __future__ import annotations

from . import csv_list, positive_int


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "estimator",
        help="evaluate ABAIR's degradation estimator (top-1 accuracy, confusion matrix)",
        description="Evaluate the degradation estimator of an ABAIR checkpoint.",
    )
    actions = parser.add_subparsers(dest="estimator_action", metavar="ACTION", required=True)
    ev = actions.add_parser(
        "eval",
        help="top-1 accuracy on the single-degradation test sets of the trained degradations + confusion matrix",
        description="Top-1 accuracy of the estimator on every single-degradation test set whose degradation "
        "the estimator scores, per set and overall, and the confusion matrix (rows: true degradation, "
        "columns: predicted adapter).",
    )
    ev.add_argument("--suite", default="mini", help="suite whose single-degradation sets are used (default mini)")
    ev.add_argument("--datasets", help="comma-separated dataset names instead of the whole suite")
    ev.add_argument("--checkpoint", help="ABAIR model file (default: the embedded abair-tiny checkpoint)")
    ev.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    ev.add_argument("--data-root", help="folder holding real test sets (default $ABAIR_DATA)")
    ev.add_argument("--sizes", metavar="S,S,...",
                    help="instead of test sets: top-1 per input size on the mini suite's source images (crops of "
                    "each size in pixels at 3 positions, 'full' for whole images), each degraded by every class "
                    "the estimator scores, e.g. 128,256,384,full")
    ev.add_argument("--view", choices=["crops", "resize"],
                    help="override how the estimator sees an image larger than its window (default: the "
                    "checkpoint's, 'crops' unless it says otherwise; 'resize' shrinks the whole image)")
    ev.add_argument("--max-crops", type=positive_int, metavar="N",
                    help="override the most native-scale windows scored per image (view 'crops')")
    ev.add_argument("--json", action="store_true", help="print the result as JSON")
    ev.set_defaults(func=eval_command)


def _load_model(checkpoint: str | None):
    from abair.errors import UserError
    from abair.model.checkpoint import load
    from bench.abair_methods import embedded_default

    path = checkpoint or embedded_default()
    if path is None:
        raise UserError("no --checkpoint given and no embedded default checkpoint is installed; "
                        "pass --checkpoint PATH (train one with 'abair-bench train')")
    model = load(path)
    if model.estimator is None:
        raise UserError(f"checkpoint '{path}' has no degradation estimator; train one with "
                        "'abair-bench train estimator'")
    if model.estimator_names != model.adapter_names:
        raise UserError(f"the estimator of '{path}' scores ({', '.join(model.estimator_names)}) but the model has "
                        f"adapters ({', '.join(model.adapter_names)}); retrain it with 'abair-bench train estimator'")
    return model, str(path)


def evaluate(model, datasets, device: str = "cpu", batch: int = 16) -> dict:
    """Estimator accuracy over ``datasets`` (objects with ``name``, ``degradations``, ``image_ids()``,
    ``load(id)``); each must hold one degradation the estimator scores.

    Returns ``{"classes", "per_dataset": {name: {"degradation", "n", "correct", "accuracy"}},
    "n", "correct", "accuracy", "confusion": [[count]] (rows: classes as true, columns: classes as
    predicted)}``.
    """
    import torch

    from abair.imageops import uint8_to_tensor

    names = list(model.estimator_names)
    model = model.to(device).eval()
    confusion = [[0] * len(names) for _ in names]
    per = {}
    for ds in datasets:
        (true,) = ds.degradations
        row = names.index(true)
        ids = ds.image_ids()
        correct = 0
        for start in range(0, len(ids), batch):
            images = [uint8_to_tensor(ds.load(i).degraded) for i in ids[start: start + batch]]
            with torch.inference_mode():
                preds = [int(model.estimate(im.unsqueeze(0).to(device)).argmax(dim=1)) for im in images]
            for p in preds:
                confusion[row][p] += 1
                correct += p == row
        per[ds.name] = {"degradation": true, "n": len(ids), "correct": correct,
                        "accuracy": correct / len(ids) if ids else float("nan")}
    n = sum(v["n"] for v in per.values())
    correct = sum(v["correct"] for v in per.values())
    return {"classes": names, "per_dataset": per, "n": n, "correct": correct,
            "accuracy": correct / n if n else float("nan"), "confusion": confusion}


def format_result(result: dict, checkpoint: str) -> str:
    names = result["classes"]
    width = max(8, *(len(n) for n in names)) + 1
    from bench.abair_methods import checkpoint_label

    lines = [f"estimator of {checkpoint_label(checkpoint)}", "", f"{'dataset':<22}{'degradation':<12}{'n':>4}  top-1"]
    for name, v in result["per_dataset"].items():
        lines.append(f"{name:<22}{v['degradation']:<12}{v['n']:>4}  {100 * v['accuracy']:5.1f}%")
    lines.append(f"{'all':<22}{'':<12}{result['n']:>4}  {100 * result['accuracy']:5.1f}%")
    lines += ["", "confusion matrix (rows: true degradation, columns: predicted adapter)",
              " " * width + "".join(f"{n:>{width}}" for n in names)]
    for name, row in zip(names, result["confusion"], strict=True):
        if sum(row):
            lines.append(f"{name:<{width}}" + "".join(f"{c:>{width}}" for c in row))
    return "\n".join(lines)


def eval_command(args) -> int:
    import json

    from abair.errors import UserError
    from bench.datasets import DatasetOptions, get_dataset, resolve_names

    model, checkpoint = _load_model(args.checkpoint)
    _override_view(model, args.view, args.max_crops)
    if args.sizes is not None:
        from bench.abair_methods import checkpoint_label
        from bench.estimator_sizes import evaluate_sizes, format_sizes, parse_sizes

        if args.datasets:
            raise UserError("--sizes evaluates on the mini suite's source images; give it or --datasets, not both")
        result = evaluate_sizes(model, parse_sizes(args.sizes), args.device)
        result["view"] = model.estimator.cfg.to_json()
        print(json.dumps({"checkpoint": checkpoint, **result}, indent=2) if args.json
              else format_sizes(result, f"{checkpoint_label(checkpoint)} ({_view_text(model)})"))
        return 0
    wanted = csv_list(args.datasets) if args.datasets else None
    names = resolve_names(None if wanted else args.suite, wanted)
    options = DatasetOptions(data_root=args.data_root)
    datasets = []
    for name in names:
        ds = get_dataset(name, options)
        if len(ds.degradations) == 1 and ds.degradations[0] in model.estimator_names:
            datasets.append(ds)
        elif wanted:
            raise UserError(f"dataset '{name}' ({'+'.join(ds.degradations) or 'no declared degradation'}) is not a "
                            f"single-degradation set of a class the estimator scores "
                            f"({', '.join(model.estimator_names)})")
    if not datasets:
        raise UserError(f"no single-degradation set among {', '.join(names)} matches the estimator's classes "
                        f"({', '.join(model.estimator_names)})")
    result = evaluate(model, datasets, args.device)
    print(json.dumps({"checkpoint": checkpoint, **result}, indent=2) if args.json
          else format_result(result, checkpoint))
    return 0


def _override_view(model, view: str | None, max_crops: int | None) -> None:
    """Replace the estimator's view settings for this evaluation (the checkpoint is not changed)."""
    import dataclasses

    changes = {k: v for k, v in (("view", view), ("max_crops", max_crops)) if v is not None}
    if changes:
        model.estimator.cfg = dataclasses.replace(model.estimator.cfg, **changes)


def _view_text(model) -> str:
    cfg = model.estimator.cfg
    if cfg.view == "resize":
        return f"view resize: whole image -> {cfg.input_size}x{cfg.input_size}"
    return f"view crops: up to {cfg.max_crops} native-scale {cfg.window_size}x{cfg.window_size} windows"
