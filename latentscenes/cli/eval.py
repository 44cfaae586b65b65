"""`latentscenes eval RUN`: PSNR and SSIM of a run's scenes on held-out and training views;
`latentscenes eval --autoencoder SOURCE --data DIR`: an autoencoder's own reconstruction."""

from __future__ import annotations

import argparse
from pathlib import Path

from latentscenes.engine.runs import open_run
from latentscenes.errors import LatentScenesError
from latentscenes.evaluation.evaluate import format_table, write_eval
from latentscenes.recipes.restore import EVAL_FILE, evaluate_run


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="PSNR/SSIM of a run on held-out and training views -> RUN/eval.json",
        description=(
            "Evaluate the scenes of a run (its latest checkpoint) on their held-out (test) and "
            "training views: PSNR (images in [-1, 1], peak-to-peak 2) and SSIM, per scene and "
            "averaged; latent runs add latent_psnr (rendered vs encoded latents) and ae_psnr (the "
            "autoencoder's own reconstruction, the ceiling without decoder fine-tuning). Writes "
            "RUN/eval.json and prints a table.\n\n"
            "With --autoencoder SOURCE --data DIR instead of RUN: the reconstruction PSNR/SSIM "
            "of an autoencoder (builtin:<name>, a folder, or a hub id) on a dataset's views, e.g. "
            "cars from meshes it never saw: latentscenes eval --autoencoder builtin:torcs-cars "
            "--data data/ae-cars --start 157 --splits test"
        ),
    )
    parser.add_argument("run", nargs="?", help="run folder (made by fit or train)")
    parser.add_argument("--autoencoder", metavar="SOURCE", help="evaluate this autoencoder instead of a run")
    parser.add_argument("--data", help="with --autoencoder: the dataset folder")
    parser.add_argument("--start", type=int, default=0, help="with --autoencoder: first scene (default 0)")
    parser.add_argument("--count", type=int, default=None, help="with --autoencoder: number of scenes (default all)")
    parser.add_argument("--num-test-views", type=int, default=10, help="with --autoencoder: test views per scene (default 10)")
    parser.add_argument(
        "--num-val-views", type=int, default=0, help="with --autoencoder: validation views after the test views (default 0)"
    )
    parser.add_argument("--json", metavar="FILE", help="with --autoencoder: also write the results to FILE")
    parser.add_argument("--max-views", type=int, default=None, help="at most this many views per scene and split")
    parser.add_argument(
        "--splits", default="test,train", help="comma-separated splits to evaluate: test, val, train (default test,train)"
    )


def run(args: argparse.Namespace) -> int:
    splits = tuple(part.strip() for part in args.splits.split(",") if part.strip())
    if not splits or not set(splits) <= {"test", "val", "train"}:
        raise LatentScenesError(f"--splits takes test, val and/or train, got {args.splits!r}")
    if args.autoencoder:
        return _evaluate_autoencoder(args, splits)
    if not args.run:
        raise LatentScenesError("give a RUN folder, or --autoencoder SOURCE --data DIR")
    run_dir = open_run(args.run)
    result = evaluate_run(run_dir, splits, args.max_views)
    print(format_table(result))
    print(f"wrote {run_dir.root / EVAL_FILE}")
    return 0


def _evaluate_autoencoder(args: argparse.Namespace, splits: tuple[str, ...]) -> int:
    from latentscenes.autoencoder import AutoencoderConfig, build_autoencoder
    from latentscenes.data import load_scenes
    from latentscenes.evaluation.evaluate import evaluate_autoencoder

    if not args.data:
        raise LatentScenesError("--autoencoder needs --data DIR (the views to reconstruct)")
    autoencoder = build_autoencoder(AutoencoderConfig(vae=args.autoencoder)).eval()
    collection = load_scenes(
        args.data, num_test_views=args.num_test_views, num_val_views=args.num_val_views, start=args.start,
        count=args.count,
    )
    result = evaluate_autoencoder(autoencoder, enumerate(collection.scenes), splits, args.max_views, warped=True)
    result["autoencoder"] = args.autoencoder
    result["data"] = {"root": str(args.data), "start": args.start, "scenes": len(collection)}
    print(format_table(result))
    if args.json:
        write_eval(Path(args.json), result)
        print(f"wrote {args.json}")
    return 0
