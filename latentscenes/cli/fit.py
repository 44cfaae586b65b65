"""`latentscenes fit`: learn scenes as Tri-Planes, in RGB (the baseline) or in a latent space."""

from __future__ import annotations

import argparse

from latentscenes.cli.common import add_config_arguments, config_from_args
from latentscenes.runs import create_run, resume_run
from latentscenes.training.fit_rgb import FitRGBConfig, fit_rgb

HELP = "fit Tri-Planes to scenes: --space rgb is the RGB Tri-Plane baseline"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fit",
        help=HELP,
        description=(
            "Fit Tri-Plane scenes to posed images. --space rgb fits plain RGB Tri-Planes on random "
            "rays (the baseline every cost ratio is measured against). Writes checkpoints, logs "
            "(TensorBoard: tensorboard --logdir RUN/logs), curve.json (held-out PSNR vs training "
            "time) and renders of held-out views into --run."
        ),
    )
    parser.add_argument("--space", choices=["rgb"], required=True, help="where scenes are learned")
    parser.add_argument("--data", help="dataset folder (sets data.root)")
    parser.add_argument("--run", required=True, help="run folder to create (or continue with --resume)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --run from its last checkpoint")
    add_config_arguments(parser, FitRGBConfig)


def run(args: argparse.Namespace) -> int:
    if args.resume:
        run_dir, config = resume_run(args.run, FitRGBConfig, changed=bool(args.config or args.overrides))
    else:
        if args.data:
            args.overrides = [f"data.root={args.data}", *args.overrides]
        config = config_from_args(FitRGBConfig, args)
        run_dir = create_run(args.run, config, kind="fit-rgb")
    state = fit_rgb(config, run_dir, resume=args.resume)
    last = state.history[-1] if state.history else {}
    print(
        f"fitted in {state.train_seconds:.1f} s of training ({state.global_step} steps); "
        + ", ".join(f"{k} {v:.3f}" for k, v in last.items() if k.startswith("test_"))
    )
    print(f"run folder: {run_dir.root}  (next: latentscenes eval {run_dir.root})")
    return 0
