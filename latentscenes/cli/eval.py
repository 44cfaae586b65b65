"""`latentscenes eval RUN`: PSNR and SSIM of a run's scenes on held-out and training views."""

from __future__ import annotations

import argparse

from latentscenes.data import load_scenes_from_config
from latentscenes.errors import LatentScenesError
from latentscenes.evaluation.evaluate import evaluate_scenes, format_table, rgb_metrics, write_eval
from latentscenes.runs import open_run, run_kind
from latentscenes.training.checkpoint import load_model_weights


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="PSNR/SSIM of a run on held-out and training views -> RUN/eval.json",
        description=(
            "Evaluate the scenes of a run (its latest checkpoint) on their held-out (test) and "
            "training views: PSNR (images in [-1, 1], peak-to-peak 2) and SSIM, per scene and "
            "averaged. Writes RUN/eval.json and prints a table."
        ),
    )
    parser.add_argument("run", help="run folder (made by fit or train)")
    parser.add_argument("--max-views", type=int, default=None, help="at most this many views per scene and split")
    parser.add_argument("--splits", default="test,train", help="comma-separated splits to evaluate (default test,train)")


def run(args: argparse.Namespace) -> int:
    run_dir = open_run(args.run)
    kind = run_kind(run_dir)
    splits = tuple(part.strip() for part in args.splits.split(",") if part.strip())
    if not set(splits) <= {"test", "train"}:
        raise LatentScenesError(f"--splits takes test and/or train, got {args.splits!r}")
    if kind != "fit-rgb":
        raise LatentScenesError(f"{run_dir.root} holds a '{kind}' run, which eval does not know")
    from latentscenes.config import load_config
    from latentscenes.training.fit_rgb import FitRGBConfig, build_rgb_model

    config = load_config(FitRGBConfig, run_dir.config_path)
    collection = load_scenes_from_config(config.data)
    model = build_rgb_model(config, len(collection))
    load_model_weights(model, run_dir.checkpoints)
    result = evaluate_scenes(rgb_metrics(model.render_images), enumerate(collection.scenes), splits, args.max_views)
    result["run"] = {"kind": kind, "path": str(run_dir.root)}
    write_eval(run_dir.root / "eval.json", result)
    print(format_table(result))
    print(f"wrote {run_dir.root / 'eval.json'}")
    return 0
