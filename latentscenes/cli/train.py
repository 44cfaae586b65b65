"""`latentscenes train`: stage 1, the 3D-aware autoencoder learned with N1 scenes."""

from __future__ import annotations

import argparse

from latentscenes.cli.common import add_config_arguments, report_state, start_or_resume
from latentscenes.recipes.stage1 import TrainConfig, check_stage1_config, train_stage1


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="stage 1: make an autoencoder's latent space 3D-aware with a set of scenes",
        description=(
            "Stage 1 of the method: start from pretrained autoencoder weights (autoencoder.vae, by default\n"
            "the shipped builtin:torcs-cars; empty: warm up a preset from scratch), fit the scenes'\n"
            "Tri-Planes on cached latents (Encode-Scene), then train them jointly with the decoder, and\n"
            "the encoder when joint.lr.encoder > 0 (Encode-Scene + Decode-Scene + reconstruction + TV). Writes\n"
            "checkpoints, logs, curve.json, renders and RUN/autoencoder/ (used by `fit --space latent\n"
            "--from RUN`)."
        ),
    )
    parser.add_argument("--data", help="dataset folder (sets data.root)")
    parser.add_argument(
        "--run", "--run-dir", dest="run", required=True,
        help="run folder to create (or continue with --resume); --run-dir under torchrun, whose own options take --run",
    )
    parser.add_argument("--resume", action="store_true", help="continue the run in --run from its last checkpoint")
    add_config_arguments(parser, ("config keys", TrainConfig), stages=("train",))


def run(args: argparse.Namespace) -> int:
    given = [f"data.root={args.data}"] if args.data else []
    with start_or_resume(args, TrainConfig, "train", given, check_stage1_config, stage="train") as (run_dir, config):
        report_state(train_stage1(config, run_dir, resume=args.resume), run_dir)
    return 0
