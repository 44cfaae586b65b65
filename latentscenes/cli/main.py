"""`latentscenes` entry point: dispatches to one module per subcommand."""

from __future__ import annotations

import argparse
import importlib
import sys

from latentscenes import __version__
from latentscenes.errors import LatentScenesError

SUBCOMMANDS = ("data", "train", "fit", "eval", "bench", "demo")

DESCRIPTION = """\
Learn thousands of 3D scenes cheaply: Tri-Plane NeRFs learned in the latent space of an
image autoencoder made 3D-consistent, with base planes shared across scenes.

Typical pipeline:
  latentscenes data build torcs --out data/cars --scenes 76   # render real cars
  latentscenes data info data/cars                            # check a dataset
  latentscenes fit --space rgb --data data/cars --run runs/rgb  # RGB Tri-Plane baseline
  latentscenes eval runs/rgb                                  # PSNR / SSIM of a run
  latentscenes bench render                                   # speed on this machine
Every command has --help; training commands take --config FILE.yaml and key=value overrides.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="latentscenes",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"latentscenes {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"latentscenes.cli.{name}")
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    module = importlib.import_module(f"latentscenes.cli.{args.command}")
    try:
        return int(module.run(args) or 0)
    except LatentScenesError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
