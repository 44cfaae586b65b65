"""`latentscenes fit`: learn scenes as Tri-Planes, in RGB (the baseline) or in a latent space."""

from __future__ import annotations

import argparse
from pathlib import Path

from latentscenes.cli.common import add_config_arguments, report_state, start_or_resume
from latentscenes.errors import LatentScenesError
from latentscenes.recipes.catalog import named_recipe
from latentscenes.recipes.rgb import FitRGBConfig, check_rgb_config, fit_rgb
from latentscenes.recipes.stage2 import FitLatentConfig, fit_stage2, stage1_reference, stage1_run

SPACES = {
    "rgb": (FitRGBConfig, fit_rgb, "fit-rgb", lambda config, run_root: check_rgb_config(config)),
    "latent": (FitLatentConfig, fit_stage2, "fit-latent", stage1_run),
}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fit",
        help="fit Tri-Planes to scenes: in a stage-1 latent space (stage 2) or in RGB (the baseline)",
        description=(
            "Fit Tri-Plane scenes to posed images.\n"
            "  --space latent --from STAGE1_RUN: stage 2 of the method; new scenes learned in the\n"
            "      3D-aware latent space of a `latentscenes train` run (its autoencoder and base planes),\n"
            "      or of one shipped with the package (--from builtin:torcs-cars-1x-stage1).\n"
            "  --space rgb: plain RGB Tri-Planes fitted on random rays, the baseline every cost ratio\n"
            "      is measured against (init_from=RGB_RUN: warm-started from another RGB run's mean\n"
            "      scene and MLP, the control for stage 2's head start).\n"
            "Writes checkpoints, logs (tensorboard --logdir RUN/logs), curve.json (held-out PSNR against\n"
            "training seconds) and renders of held-out views into --run."
        ),
    )
    parser.add_argument(
        "--space", choices=sorted(SPACES), help="where scenes are learned (may be left out with --recipe: the recipe's)"
    )
    parser.add_argument("--data", help="dataset folder (sets data.root)")
    parser.add_argument(
        "--run", "--run-dir", dest="run", required=True,
        help="run folder to create (or continue with --resume); --run-dir under torchrun, whose own options take --run",
    )
    parser.add_argument(
        "--from", dest="stage1",
        help="stage-1 run folder, or builtin:<name> for a shipped one (--space latent; e.g. builtin:torcs-cars-1x-stage1)",
    )
    parser.add_argument("--resume", action="store_true", help="continue the run in --run from its last checkpoint")
    add_config_arguments(
        parser, ("config keys of --space latent", FitLatentConfig), ("config keys of --space rgb", FitRGBConfig),
        stages=tuple(SPACES),
    )


def run(args: argparse.Namespace) -> int:
    space = fit_space(args.space, args.recipe)
    config_cls, fit, kind, check = SPACES[space]
    given = [f"data.root={args.data}"] if args.data else []
    if args.stage1:
        if space != "latent":
            raise LatentScenesError("--from is for --space latent (a stage-1 run to build on)")
        given.append(f"stage1={stage1_reference(args.stage1, args.run)}")
    with start_or_resume(
        args, config_cls, kind, given, lambda config: check(config, Path(args.run)), stage=space
    ) as (run_dir, config):
        report_state(fit(config, run_dir, resume=args.resume), run_dir)
    return 0


def fit_space(space: str | None, recipe: str | None) -> str:
    """`--space`, or the space of `--recipe`; the two must agree when both are given."""
    if recipe is None:
        if space is None:
            raise LatentScenesError("fit needs --space latent or --space rgb, or a --recipe (latentscenes recipes lists them)")
        return space
    named = named_recipe(recipe, space)
    if named.stage not in SPACES:
        raise LatentScenesError(f"recipe {recipe!r} is for `latentscenes train`, not fit")
    return named.stage
