"""`latentscenes data`: inspect (`info`) and build (`build`) multi-view datasets."""

from __future__ import annotations

import argparse
import json
from dataclasses import fields

from latentscenes.data.config import DataConfig
from latentscenes.data.formats import FORMAT_NAMES, layouts
from latentscenes.errors import LatentScenesError

BUILDERS_MODULES = ("latentscenes.builders", "latentscenes.builders.cli")


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
    try:
        from latentscenes.builders.cli import add_build_arguments
    except ModuleNotFoundError as error:
        if error.name not in BUILDERS_MODULES:
            raise
        build.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        build.set_defaults(builders_missing=True)
    else:
        add_build_arguments(build)


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
        if getattr(args, "builders_missing", False):
            raise LatentScenesError("'data build' is not available: latentscenes.builders is not installed")
        from latentscenes.builders.cli import run_build

        return int(run_build(args) or 0)
    raise LatentScenesError(f"unknown data command {args.data_command!r}")


def _run_info(args: argparse.Namespace) -> int:
    from latentscenes.data.info import dataset_info, format_info

    config = DataConfig(**{field.name: getattr(args, field.name) for field in fields(DataConfig)})
    info = dataset_info(config.root, check=args.check, **config.load_options())
    print(json.dumps(info.to_dict(), indent=2) if args.json else format_info(info))
    return 0
