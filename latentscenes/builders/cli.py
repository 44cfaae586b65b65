"""Arguments and entry point of ``latentscenes data build`` (wired in by `latentscenes.cli.data`)."""

from __future__ import annotations

import argparse

from latentscenes.builders.build import SOURCES, SPLITS, BuildSettings

EPILOG = """\
sources:
  torcs             real textured cars from Debian's torcs-data package (17 meshes, 76
                    liveries); --torcs-root DIR is the folder holding cars/ and drivers/
                    (e.g. /usr/share/games/torcs, or an extracted .deb's root). Without it the
                    package is fetched once with `apt-get download torcs-data` into
                    $LATENTSCENES_CACHE/torcs (default ~/.cache/latentscenes/torcs).
  flightgear-aircraft
                    real textured aircraft from Debian's flightgear-data-ai package (FlightGear's
                    AI traffic: 78 models, 1164 liveries); --flightgear-root DIR is the folder
                    holding AI/Aircraft/ (e.g. /usr/share/games/flightgear, or an extracted .deb's
                    root). Without it the package is fetched once with `apt-get download
                    flightgear-data-ai` into $LATENTSCENES_CACHE/flightgear.
  pybullet-objects  the 1000 random_urdfs objects shipped inside the pybullet wheel (no apt).

Beyond the distinct source objects, scenes are deterministic variants (livery hue shift,
mild non-uniform scaling, another rim design). With --split-by mesh the scenes are split by
source mesh into 'train' (first) and 'holdout' (last) groups; meta.json records the ranges.
Same settings give the same bytes. An interrupted build resumes when rerun with the same
settings.

examples:
  latentscenes data build torcs --out data/cars --scenes 76
  latentscenes data build torcs --out data/cars1000 --scenes 1000 --split-by mesh --holdout-meshes 0.5
  latentscenes data build flightgear-aircraft --out data/aircraft --scenes 200 --split-by mesh
  latentscenes data build pybullet-objects --out data/blobs --scenes 8 --views 12 --size 64
"""


def add_build_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Render a multi-view dataset in the SRN layout: real TORCS cars, FlightGear aircraft or "
                          "pybullet's objects.")
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    defaults = BuildSettings()
    parser.add_argument("source", choices=SOURCES, metavar="SOURCE", help=f"one of: {', '.join(SOURCES)}")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (new, empty, or a previous build)")
    parser.add_argument("--scenes", type=int, default=defaults.scenes, metavar="N",
                        help=f"number of scenes (default {defaults.scenes})")
    parser.add_argument("--views", type=int, default=defaults.views, metavar="V",
                        help=f"views per scene (default {defaults.views})")
    parser.add_argument("--size", type=int, default=defaults.size, metavar="S",
                        help=f"image size in pixels, square, a multiple of 8 (default {defaults.size})")
    parser.add_argument("--seed", type=int, default=defaults.seed, metavar="K",
                        help=f"seed of cameras, variants and the split (default {defaults.seed})")
    parser.add_argument("--num-test-views", type=int, default=None, metavar="T",
                        help=f"the first T views of each scene are test views "
                             f"(default {defaults.num_test_views}, at most half the views)")
    parser.add_argument("--split-by", choices=SPLITS, default=defaults.split_by,
                        help="'mesh': hold out whole source meshes (all their liveries and variants)")
    parser.add_argument("--holdout-meshes", type=float, default=defaults.holdout_meshes, metavar="X",
                        help="with --split-by mesh: below 1, the fraction of scenes to hold out (meshes are "
                             "added in seeded order until reached); 1 or more, the number of meshes "
                             f"(default {defaults.holdout_meshes})")
    parser.add_argument("--torcs-root", default=None, metavar="DIR",
                        help="extracted torcs-data tree (the folder with cars/ and drivers/)")
    parser.add_argument("--flightgear-root", default=None, metavar="DIR",
                        help="FlightGear data tree with AI/Aircraft/ (an extracted flightgear-data-ai)")
    parser.add_argument("--workers", type=int, default=None, metavar="W",
                        help="render processes (default min(2, CPUs))")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a previous build with other settings in --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def settings_from_args(args: argparse.Namespace) -> BuildSettings:
    return BuildSettings(
        source=args.source,
        scenes=args.scenes,
        views=args.views,
        size=args.size,
        seed=args.seed,
        num_test_views=(
            min(BuildSettings.num_test_views, args.views // 2) if args.num_test_views is None else args.num_test_views
        ),
        split_by=args.split_by,
        holdout_meshes=args.holdout_meshes,
    )


def check_source_roots(source: str, torcs_root: str | None, flightgear_root: str | None) -> None:
    """Refuse a tree option given for another source (it would be silently ignored)."""
    from latentscenes.errors import DataError

    if torcs_root is not None and source != "torcs":
        raise DataError("--torcs-root only applies to the torcs source")
    if flightgear_root is not None and source != "flightgear-aircraft":
        raise DataError("--flightgear-root only applies to the flightgear-aircraft source")


def run_build(args: argparse.Namespace) -> int:
    from latentscenes.builders.build import build_dataset, describe_result
    from latentscenes.errors import DataError

    if args.workers is not None and args.workers < 1:
        raise DataError(f"--workers must be >= 1, got {args.workers}")
    check_source_roots(args.source, args.torcs_root, args.flightgear_root)
    result = build_dataset(
        args.out,
        settings_from_args(args),
        torcs_root=args.torcs_root,
        flightgear_root=args.flightgear_root,
        workers=args.workers,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    print(describe_result(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry: ``python -m latentscenes.builders.cli torcs --out DIR ...``."""
    import sys

    from latentscenes.errors import LatentScenesError

    parser = argparse.ArgumentParser(prog="latentscenes data build")
    add_build_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_build(args)
    except LatentScenesError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
