"""Arguments shared by subcommands: `--config FILE.yaml` and `key=value` overrides."""

from __future__ import annotations

import argparse
from typing import TypeVar

from latentscenes.config import describe, load_config

T = TypeVar("T")


def add_config_arguments(parser: argparse.ArgumentParser, config_cls: type) -> None:
    """Add `--config` and positional `key=value` overrides; list every key in the epilog."""
    parser.add_argument("--config", metavar="FILE.yaml", help="YAML file with config values")
    parser.add_argument(
        "overrides", nargs="*", metavar="key=value", help="override config values, e.g. steps=500"
    )
    rows = describe(config_cls)
    width = max(len(key) for key, _, _ in rows)
    lines = [f"  {key:<{width}}  {help} (default {default})" for key, default, help in rows]
    parser.epilog = "config keys:\n" + "\n".join(lines)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def config_from_args(config_cls: type[T], args: argparse.Namespace) -> T:
    return load_config(config_cls, args.config, list(args.overrides))
