"""Learned starts for stage 2. `start train --from STAGE1_RUN --data DIR --run RUN` trains a small
network that maps a scene's training-view latents and cameras to its micro planes and base
weights (a residual on the mean stage-1 scene), on stage 1's own scenes, through stage 1's frozen
base planes and MLP, with Encode-Scene. It writes RUN/start/; new scenes start from it with
`fit --space latent --from STAGE1_RUN scene_init=learned start=RUN/start`."""

from __future__ import annotations

import argparse
from pathlib import Path

from latentscenes.cli.common import add_command, add_config_arguments, report_state, start_or_resume
from latentscenes.recipes.learned_start import START_FOLDER, StartTrainConfig, check_start_config, train_start
from latentscenes.recipes.stage2 import stage1_reference


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "start", "learned starts: new scenes that begin close to their answer (start train)", __doc__
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    train = actions.add_parser(
        "train",
        help="train a learned start on a stage-1 run's scenes",
        description="Train a learned start on stage-1 scenes; writes RUN/start/ (start.json, start.safetensors).",
    )
    train.add_argument("--from", dest="stage1", help="stage-1 run folder, or builtin:<name> (e.g. builtin:torcs-cars-1x-stage1)")
    train.add_argument("--data", help="dataset folder (sets data.root): stage 1's scenes")
    train.add_argument("--run", required=True, help="run folder to create (or continue with --resume)")
    train.add_argument("--resume", action="store_true", help="continue the run in --run from its last checkpoint")
    add_config_arguments(train, ("config keys", StartTrainConfig))


def run(args: argparse.Namespace) -> int:
    given = [f"data.root={args.data}"] if args.data else []
    if args.stage1:
        given.append(f"stage1={stage1_reference(args.stage1, args.run)}")
    with start_or_resume(
        args, StartTrainConfig, "start", given, lambda config: check_start_config(config, Path(args.run))
    ) as (run_dir, config):
        report_state(train_start(config, run_dir, resume=args.resume), run_dir)
        print(f"learned start: {run_dir.root / START_FOLDER}  (use: fit --space latent scene_init=learned start={run_dir.root / START_FOLDER})")
    return 0
