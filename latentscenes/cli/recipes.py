"""`latentscenes recipes`: the named recipes of `train`, `fit` and `demo`, and their settings."""

from __future__ import annotations

import argparse

from latentscenes.recipes.catalog import RECIPES, RECOMMENDED, STAGES, named_recipe


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "recipes",
        help="list the named recipes (train --recipe, fit --recipe, demo --recipe), or print one as a config file",
        description=(
            "Without NAME: every named recipe with the command that runs it, what it is for and its\n"
            "measured headline (docs/results.md has the tables). With NAME: the recipe as a config file,\n"
            "to copy and edit (`latentscenes recipes latent-1x > mine.yaml`, then `fit --config mine.yaml`)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", nargs="?", metavar="NAME", help="a recipe to print as a config file")


def run(args: argparse.Namespace) -> int:
    if args.name:
        print(named_recipe(args.name).config_text(), end="")
        return 0
    for stage, (command, _) in STAGES.items():
        print(f"{command}:")
        for recipe in RECIPES.values():
            if recipe.stage != stage:
                continue
            mark = " (default)" if RECOMMENDED[stage] == recipe.name else ""
            print(f"  {recipe.name}{mark}: {recipe.purpose}")
            print(f"      measured: {recipe.headline}")
            if recipe.shipped:
                print(f"      shipped: {recipe.shipped}")
            if recipe.stage1:
                print(f"      stage 1: recipe {recipe.stage1}")
        print()
    print("Print one as a config file: latentscenes recipes NAME; results: docs/results.md")
    return 0
