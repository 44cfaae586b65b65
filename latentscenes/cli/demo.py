"""`latentscenes demo`: build real cars, run both stages and the RGB baseline, compare."""

from __future__ import annotations

import argparse
from pathlib import Path

from latentscenes.builders.build import SOURCES
from latentscenes.builders.cli import check_source_roots
from latentscenes.studies.demo import DemoSettings, format_summary, run_demo


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="the method end to end on real TORCS cars, next to the RGB baseline",
        description=(
            "Build real textured TORCS cars (fetched with apt-get download, or --torcs-root; --source\n"
            "flightgear-aircraft: airliners, a category the shipped autoencoder never saw), train\n"
            "stage 1 on scenes from some meshes, learn scenes from other meshes in its latent space\n"
            "(stage 2), fit the RGB Tri-Plane baseline on the same scenes, and print held-out PSNR and\n"
            "per-scene training time side by side; write OUT/report.html (latentscenes report of the\n"
            "three runs) and print its path. The RGB baseline trains beside stages 1 and 2 (half of\n"
            "torch's threads each; --one-at-a-time to run it after them). CPU-sized settings: the packaged\n"
            "configs/demo-*.yaml. Re-running with the same --out resumes instead of redoing."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", default="demo", help="folder for data and runs (default ./demo)")
    parser.add_argument("--source", choices=SOURCES, default="torcs",
                        help="dataset source: torcs (cars), flightgear-aircraft (a category the shipped "
                        "autoencoder never saw), pybullet-objects (needs no apt); default torcs")
    parser.add_argument("--scenes", type=int, default=76, help="scenes to build (default 76: every TORCS car)")
    parser.add_argument("--views", type=int, default=30, help="views per scene, the first 10 held out (default 30)")
    parser.add_argument("--size", type=int, default=128, help="image size (default 128)")
    parser.add_argument("--holdout-meshes", type=float, default=3,
                        help="new scenes: all scenes of this many meshes (>= 1), or about this fraction of the "
                        "scenes in whole meshes (< 1; e.g. 0.22 for flightgear-aircraft, whose first scenes "
                        "are one per model); default 3 (17 of the 76 TORCS cars)")
    parser.add_argument("--torcs-root", help="an extracted torcs-data tree (default: fetch and cache it)")
    parser.add_argument("--flightgear-root", help="an extracted flightgear-data-ai tree (default: fetch and cache it)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--one-at-a-time", action="store_true",
                        help="train the RGB baseline after stage 2 with all of torch's threads, instead of beside "
                        "stage 1 and stage 2 with half of them (the default when there are two or more)")
    parser.add_argument(
        "overrides", nargs="*", metavar="key=value",
        help="overrides of the stage-1 config; latent.key=value and rgb.key=value override stage 2 and "
        "the RGB baseline (e.g. latent.encode.steps=100 rgb.fit.steps=300)",
    )


def run(args: argparse.Namespace) -> int:
    check_source_roots(args.source, args.torcs_root, args.flightgear_root)
    summary = run_demo(
        DemoSettings(
            out=Path(args.out), source=args.source, scenes=args.scenes, views=args.views, size=args.size,
            holdout_meshes=args.holdout_meshes, torcs_root=args.torcs_root, flightgear_root=args.flightgear_root,
            overrides=tuple(args.overrides), progress=not args.no_progress,
            side_by_side=not args.one_at_a_time,
        )
    )
    print(format_summary(summary))
    print(f"details: {Path(args.out) / 'demo.json'}; renders in {Path(args.out) / 'runs'}/*/renders")
    print(f"report: {summary['report']}")
    return 0
