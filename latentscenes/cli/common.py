"""Arguments shared by subcommands: `--config FILE.yaml` and `key=value` overrides."""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TypeVar

from latentscenes.config import describe, load_config
from latentscenes.engine.checkpoint import has_checkpoint
from latentscenes.engine.runs import RunDir, create_run, discard_unstarted_run, hold_run, open_run, resume_run
from latentscenes.parallel import barrier, current_world, join_world
from latentscenes.recipes.catalog import RECIPES, RECOMMENDED, named_recipe
from latentscenes.recipes.stage import check_phase_settings

T = TypeVar("T")


def add_command(
    subparsers: argparse._SubParsersAction, name: str, help: str, description: str
) -> argparse.ArgumentParser:
    """The subcommand `name`, listed with `help`; its --help shows `description` (a docstring:
    the command module's, or the function's that runs it) with its line breaks."""
    return subparsers.add_parser(
        name, help=help, description=inspect.cleandoc(description),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_config_arguments(parser: argparse.ArgumentParser, *sections: tuple[str, type], stages: tuple[str, ...] = ()) -> None:
    """Add `--config` and positional `key=value` overrides, and `--recipe` of the named
    recipes of `stages`; list every key of every (title, config class) section in the epilog."""
    if stages:
        names = ", ".join(recipe.name for recipe in RECIPES.values() if recipe.stage in stages)
        recommended = " or ".join(RECOMMENDED[stage] for stage in stages)
        parser.add_argument(
            "--recipe", metavar="NAME",
            help=f"named recipe to start from ({names}; `latentscenes recipes` describes them). Default: "
            f"{recommended}, the recommended one; with --config and no --recipe, the package defaults",
        )
    parser.add_argument("--config", metavar="FILE.yaml", help="YAML file with config values, over the recipe's")
    parser.add_argument(
        "overrides", nargs="*", metavar="key=value", help="override config values, e.g. seed=1 render.samples=32"
    )
    blocks = []
    for title, config_cls in sections:
        rows = describe(config_cls)
        width = max(len(key) for key, _, _ in rows)
        lines = [f"  {key:<{width}}  {help} (default {default})" for key, default, help in rows]
        blocks.append(f"{title}:\n" + "\n".join(lines))
    parser.epilog = "\n\n".join(blocks)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


@contextmanager
def start_or_resume(
    args: argparse.Namespace,
    config_cls: type[T],
    kind: str,
    given: list[str],
    check: Callable[[T], object] | None = None,
    stage: str = "",
) -> Iterator[tuple[RunDir, T]]:
    """`--resume`: reopen `args.run` with its saved config (no config changes allowed).
    Otherwise: a new run of `kind` from the named recipe of `stage` (`recipe_settings`), then
    `--config`, the `given` overrides (from other options, e.g. data.root) and the user's
    `key=value` overrides, in that order; `check`
    may reject the config before the run folder is created. The run folder stays locked
    against other processes while the `with` block runs; a new run that fails before its
    first checkpoint (bad data, a setting only the data can refute) leaves no folder behind.

    Under `torchrun` every process joins the process group here; rank 0 alone creates the
    run folder and holds its lock, the others use the folder once it exists."""
    with join_world() as world:
        lock = hold_run(args.run) if world.is_main else nullcontext()
        if args.resume:
            open_run(args.run)  # a missing run is refused before anything is created
            with lock:
                yield resume_run(args.run, config_cls, changed=bool(args.config or args.overrides or getattr(args, "recipe", None)))
            return
        config = load_config(config_cls, args.config, [*given, *args.overrides], base=recipe_settings(args, stage))
        check_phase_settings(config)
        if check is not None:
            check(config)
        existed = Path(args.run).exists()
        with lock:
            run = create_run(args.run, config, kind=kind) if world.is_main else RunDir(Path(args.run))
            barrier(world)
            try:
                yield run, config
            except BaseException:  # e.g. unreadable data: the same command can run again once it is fixed
                if world.is_main and not has_checkpoint(run.checkpoints):
                    discard_unstarted_run(run, keep_folder=existed)
                raise


def recipe_settings(args: argparse.Namespace, stage: str) -> dict:
    """The settings of the recipe a new run of `stage` starts from: `--recipe`, else the
    recommended one unless `--config` is given (a config file is read over the package defaults)."""
    name = getattr(args, "recipe", None)
    if not stage or (name is None and args.config):
        return {}
    return named_recipe(name or RECOMMENDED[stage], stage).settings


def report_state(state, run_dir) -> None:
    """Print how long training took and the last held-out metrics of a finished stage."""
    last = state.history[-1] if state.history else {}
    metrics = ", ".join(f"{k} {v:.3f}" for k, v in last.items() if k.startswith("test_"))
    if not current_world().is_main:  # under torchrun rank 0 reports
        return
    print(f"trained {state.global_step} steps in {state.train_seconds:.1f} s; {metrics}")
    print(f"run folder: {run_dir.root}  (next: latentscenes eval {run_dir.root})")
