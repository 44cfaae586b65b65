"""`latentscenes eval RUN`: PSNR and SSIM of a run's scenes on held-out and training views."""

from __future__ import annotations

import argparse

from latentscenes.errors import LatentScenesError
from latentscenes.evaluation.evaluate import evaluate_scenes, format_table, write_eval
from latentscenes.runs import open_run, run_kind
from latentscenes.training.restore import load_trained


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="PSNR/SSIM of a run on held-out and training views -> RUN/eval.json",
        description=(
            "Evaluate the scenes of a run (its latest checkpoint) on their held-out (test) and "
            "training views: PSNR (images in [-1, 1], peak-to-peak 2) and SSIM, per scene and "
            "averaged; latent runs add latent_psnr (rendered vs encoded latents) and ae_psnr (the "
            "autoencoder's own reconstruction, the ceiling without decoder fine-tuning). Writes "
            "RUN/eval.json and prints a table."
        ),
    )
    parser.add_argument("run", help="run folder (made by fit or train)")
    parser.add_argument("--max-views", type=int, default=None, help="at most this many views per scene and split")
    parser.add_argument("--splits", default="test,train", help="comma-separated splits to evaluate (default test,train)")


def run(args: argparse.Namespace) -> int:
    run_dir = open_run(args.run)
    splits = tuple(part.strip() for part in args.splits.split(",") if part.strip())
    if not splits or not set(splits) <= {"test", "train"}:
        raise LatentScenesError(f"--splits takes test and/or train, got {args.splits!r}")
    model, collection = load_trained(run_dir)
    result = evaluate_scenes(model.view_metrics, enumerate(collection.scenes), splits, args.max_views)
    result["run"] = {"kind": run_kind(run_dir), "path": str(run_dir.root)}
    write_eval(run_dir.root / "eval.json", result)
    print(format_table(result))
    print(f"wrote {run_dir.root / 'eval.json'}")
    return 0
