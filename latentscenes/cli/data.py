"""`latentscenes data`: inspect (`info`) and build (`build`) multi-view datasets."""

from __future__ import annotations

import argparse
import json
from dataclasses import fields

from latentscenes.builders.build import SOURCES, SPLITS, BuildSettings
from latentscenes.data.config import DataConfig
from latentscenes.data.formats import FORMAT_NAMES, layouts
from latentscenes.errors import DataError, LatentScenesError


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "data",
        help="inspect or build multi-view datasets",
        description="Inspect (info) or build (build) multi-view scene datasets.",
    )
    commands = parser.add_subparsers(dest="data_command", metavar="{info,build,download}", required=True)

    info = commands.add_parser(
        "info",
        help="summarise a dataset: scenes, views, resolution, camera ranges",
        description=(
            f"Summarise a dataset ({layouts()}): format, scenes, views per scene, resolution, camera "
            "radius and elevation ranges, focal length. Validates every camera; --check also decodes "
            "every image."
        ),
    )
    info.add_argument("root", metavar="ROOT", help="dataset folder")
    info.add_argument("--size", type=int, default=None, metavar="S", help="report as if loaded at S x S pixels")
    info.add_argument(
        "--above", type=float, default=None, metavar="A",
        help="keep only views with camera height cam2world[2,3] > A (reference -0.5)",
    )
    info.add_argument(
        "--test-views", dest="num_test_views", type=int, default=0, metavar="K",
        help="check every scene has more than K views (the test split); default 0",
    )
    info.add_argument(
        "--val-views", dest="num_val_views", type=int, default=0, metavar="K",
        help="the K views after the test views are the validation split; default 0",
    )
    info.add_argument("--format", default="auto", choices=FORMAT_NAMES, help="dataset format; auto detects it")
    info.add_argument("--start", type=int, default=0, help="first scene (in sorted order)")
    info.add_argument("--count", type=int, default=None, help="number of scenes from --start")
    info.add_argument("--check", action="store_true", help="decode every image (slower; finds corrupt files)")
    info.add_argument("--json", action="store_true", help="print the summary as JSON")

    _add_download(commands)

    build = commands.add_parser(
        "build",
        help="render a dataset in the SRN layout (torcs cars, flightgear aircraft, pybullet objects)",
        description="Render a multi-view dataset in the SRN layout.",
    )
    _add_build_arguments(build)


def _add_download(commands) -> None:
    from latentscenes.data.download import DATASETS

    download = commands.add_parser(
        "download",
        help="download a public dataset and extract it to the SRN layout (resumable)",
        description=(
            "Download a public dataset archive and extract it to DIR in the SRN layout that `data info` "
            "and training read. srn-cars: cars_train.zip of Scene Representation Networks, the ShapeNet "
            "cars the reference implementation trains on (from Google Drive). An interrupted download "
            "continues where it stopped (HTTP Range) when the command runs again; the received size, "
            "every member's CRC and optionally a SHA-256 are checked before anything is extracted."
        ),
    )
    download.add_argument("dataset", choices=sorted(DATASETS), help="which dataset")
    download.add_argument("--out", required=True, metavar="DIR", help="new or empty folder for the scenes")
    download.add_argument("--url", default=None, help="fetch the archive from this URL instead (a mirror)")
    download.add_argument(
        "--archive", default=None, metavar="FILE", help="extract this already downloaded archive instead"
    )
    download.add_argument("--sha256", default=None, metavar="HEX", help="refuse the archive unless its SHA-256 is HEX")


def run(args: argparse.Namespace) -> int:
    if args.data_command == "info":
        return _run_info(args)
    if args.data_command == "download":
        from latentscenes.data.download import download_dataset

        download_dataset(args.dataset, args.out, url=args.url, archive=args.archive, sha256=args.sha256)
        return 0
    if args.data_command == "build":
        return _run_build(args)
    raise LatentScenesError(f"unknown data command {args.data_command!r}")


def _run_info(args: argparse.Namespace) -> int:
    from latentscenes.data.info import dataset_info, format_info

    config = DataConfig(**{field.name: getattr(args, field.name) for field in fields(DataConfig)})
    info = dataset_info(config.root, check=args.check, **config.load_options())
    print(json.dumps(info.to_dict(), indent=2) if args.json else format_info(info))
    return 0


BUILD_EPILOG = """\
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


def _add_build_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Render a multi-view dataset in the SRN layout: real TORCS cars, FlightGear aircraft or "
                          "pybullet's objects.")
    parser.epilog = BUILD_EPILOG
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


def _settings_from_args(args: argparse.Namespace) -> BuildSettings:
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
    if torcs_root is not None and source != "torcs":
        raise DataError("--torcs-root only applies to the torcs source")
    if flightgear_root is not None and source != "flightgear-aircraft":
        raise DataError("--flightgear-root only applies to the flightgear-aircraft source")


def _run_build(args: argparse.Namespace) -> int:
    from latentscenes.builders.build import build_dataset, describe_result

    if args.workers is not None and args.workers < 1:
        raise DataError(f"--workers must be >= 1, got {args.workers}")
    check_source_roots(args.source, args.torcs_root, args.flightgear_root)
    result = build_dataset(
        args.out,
        _settings_from_args(args),
        torcs_root=args.torcs_root,
        flightgear_root=args.flightgear_root,
        workers=args.workers,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    print(describe_result(result))
    return 0
