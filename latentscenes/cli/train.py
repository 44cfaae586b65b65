"""`latentscenes train`: stage 1, the 3D-aware autoencoder learned with N1 scenes."""

from __future__ import annotations

import argparse

from latentscenes.cli.common import add_config_arguments, config_from_args, report_state
from latentscenes.runs import create_run, resume_run
from latentscenes.training.stage1 import TrainConfig, train_stage1


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="stage 1: make an autoencoder's latent space 3D-aware with a set of scenes",
        description=(
            "Stage 1 of the method: warm up the autoencoder (unless autoencoder.vae gives pretrained\n"
            "weights), fit the scenes' Tri-Planes on cached latents (Encode-Scene), then train\n"
            "everything jointly (Encode-Scene + Decode-Scene + reconstruction + TV). Writes\n"
            "checkpoints, logs, curve.json, renders and RUN/autoencoder/ (used by `fit --space latent\n"
            "--from RUN`)."
        ),
    )
    parser.add_argument("--data", help="dataset folder (sets data.root)")
    parser.add_argument("--run", required=True, help="run folder to create (or continue with --resume)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --run from its last checkpoint")
    add_config_arguments(parser, ("config keys", TrainConfig))


def run(args: argparse.Namespace) -> int:
    if args.resume:
        run_dir, config = resume_run(args.run, TrainConfig, changed=bool(args.config or args.overrides))
    else:
        if args.data:
            args.overrides = [f"data.root={args.data}", *args.overrides]
        config = config_from_args(TrainConfig, args)
        run_dir = create_run(args.run, config, kind="train")
    report_state(train_stage1(config, run_dir, resume=args.resume), run_dir)
    return 0
