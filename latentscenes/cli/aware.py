"""`latentscenes aware`: the 3D-awareness diagnostic of latent spaces (stage 2 side by side)."""

from __future__ import annotations

import argparse
from pathlib import Path

from latentscenes.cli.common import add_config_arguments
from latentscenes.recipes.stage2 import FitLatentConfig


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "aware",
        help="how 3D-consistent is a latent space: stage 2 on the same new scenes for each stage-1 run",
        description=(
            "The 3D-awareness diagnostic. For each --from stage-1 run (a plain autoencoder's latent\n"
            "space, a 3D-aware one, ...), fit the same new scenes with the same stage-2 settings\n"
            "(--config and key=value, as for `fit --space latent`) into --out/<run name>, then print\n"
            "and write to --out/aware.json, on training views and on held-out views (validation views\n"
            "when data.num_val_views > 0, else test views): latent PSNR (rendered vs encoded latents),\n"
            "decoded PSNR (what users see), the autoencoder's own reconstruction, and the train -\n"
            "held-out gaps. A 3D-consistent latent space has small gaps. Re-running resumes.\n\n"
            "example:\n"
            "  latentscenes aware --from runs/stage1-plain --from runs/stage1-aware --out runs/aware \\\n"
            "      --data data/cars data.start=59 data.num_val_views=5"
        ),
    )
    parser.add_argument("--from", dest="stage1", action="append", required=True, metavar="STAGE1_RUN",
                        help="a stage-1 run (latentscenes train); repeat to compare")
    parser.add_argument("--data", help="dataset folder of the new scenes (sets data.root)")
    parser.add_argument("--out", required=True, help="folder for the stage-2 runs and aware.json")
    parser.add_argument("--train-views", type=int, default=5, help="training views per scene evaluated (default 5)")
    add_config_arguments(parser, ("stage-2 config keys (the same for every run)", FitLatentConfig))


def run(args: argparse.Namespace) -> int:
    from latentscenes.studies.aware import AwareSettings, compare_latent_spaces, format_comparison

    given = [f"data.root={args.data}"] if args.data else []
    result = compare_latent_spaces(
        AwareSettings(
            stage1_runs=[Path(run) for run in args.stage1], out=Path(args.out),
            config_file=Path(args.config) if args.config else None, overrides=[*given, *args.overrides],
            train_views=args.train_views,
        )
    )
    print(format_comparison(result))
    print(f"wrote {Path(args.out) / 'aware.json'}")
    return 0
