"""`latentscenes` entry point: dispatches to one module per subcommand."""

from __future__ import annotations

import os

# Read by OpenMP when torch starts its thread pool, so before anything imports torch:
# threads that sleep instead of spinning keep 2 threads fast on a busy machine
# (latentscenes/process.py explains the process tuning).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import importlib  # noqa: E402
import sys  # noqa: E402

from latentscenes import __version__  # noqa: E402
from latentscenes.errors import LatentScenesError  # noqa: E402

SUBCOMMANDS = ("data", "recipes", "train", "fit", "start", "eval", "render", "export", "report", "compare", "aware", "bench", "demo")

DESCRIPTION = """\
Learn thousands of 3D scenes cheaply: Tri-Plane NeRFs learned in the latent space of an
image autoencoder made 3D-consistent, with base planes shared across scenes.

The pipeline (the demo runs it on real cars: latentscenes demo):
  latentscenes data build torcs --out cars --scenes 76 --split-by mesh  # render real cars
  latentscenes data info cars                                    # check a dataset
  latentscenes train --data cars --run runs/stage1 data.count=59 # stage 1: a 3D-aware latent space
  latentscenes fit --space latent --from runs/stage1 --data cars --run runs/latent data.start=59
                                                                 # stage 2: new scenes in it
  latentscenes fit --space rgb --data cars --run runs/rgb data.start=59  # the RGB Tri-Plane baseline
  latentscenes eval runs/latent                                  # PSNR / SSIM of a run
  latentscenes compare runs/latent --rgb runs/rgb                # latent vs RGB: quality, speed, costs
  latentscenes report runs/latent runs/rgb --out report.html     # curves, views, turntables in one page
  latentscenes render runs/latent --scenes 0                     # turntable video, frames, depth
  latentscenes export runs/latent --out exports/latent           # Tri-Planes + what renders them
  latentscenes bench render                                      # speed on this machine
Stage 2 can start from a shipped stage 1 instead: --from builtin:torcs-cars-1x-stage1.
`latentscenes recipes` lists the named recipes; train and fit run the recommended one unless
given --recipe NAME or --config FILE.yaml, and take key=value overrides on top.
Every command has --help.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="latentscenes",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"latentscenes {__version__}")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--debug", action="store_true", help="show the traceback of input and file errors too")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"latentscenes.cli.{name}")
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from latentscenes.process import tune_process

    tune_process(args.threads)
    module = importlib.import_module(f"latentscenes.cli.{args.command}")
    try:
        return int(module.run(args) or 0)
    except (LatentScenesError, OSError) as error:
        # bad input, a full disk or a read-only folder: one line, earlier outputs untouched
        if args.debug:
            raise
        where = f"[rank {os.environ['RANK']}] " if int(os.environ.get("WORLD_SIZE", "1")) > 1 else ""  # torchrun
        print(f"error: {where}{_describe(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as error:  # SIGINT/SIGTERM: training saves a checkpoint first
        print(str(error) or "interrupted", file=sys.stderr)
        return getattr(error, "exit_code", 130)


def _describe(error: Exception) -> str:
    if isinstance(error, OSError) and error.strerror:
        where = f"{error.filename}: " if error.filename else ""
        return f"{where}{error.strerror}"
    return str(error)


def console() -> None:
    """The `latentscenes` command: `main`, then exit with its code. One of torchrun's ranks
    leaves without the interpreter's teardown, once its process group is left and its output
    flushed: gloo's worker threads can still be torn down then and abort the process
    ("terminate called without an active exception", seen under load after a successful run;
    pytorch/pytorch#179291 describes that path)."""
    code = main()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    console()
