"""`latentscenes demo`: build real cars, run both stages and the RGB baseline, compare."""

from __future__ import annotations

import argparse
from pathlib import Path

from latentscenes.builders.build import SOURCES
from latentscenes.cli.data import check_source_roots
from latentscenes.studies.demo import DEFAULT_RECIPE, RECIPES, DemoSettings, format_summary, run_demo


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="the method end to end on real TORCS cars, next to the RGB baseline",
        description=(
            "Build real textured TORCS cars (fetched with apt-get download, or --torcs-root; --source\n"
            "flightgear-aircraft: airliners, a category the shipped autoencoder never saw), take stage 1\n"
            "(the one shipped with the package for --recipe, trained once on exactly the build's stage-1\n"
            "cars; trained here on the stage-1 scenes for other data or --train-stage1),\n"
            "learn a few scenes of other meshes in its latent space (stage 2), fit the cold-start RGB\n"
            "Tri-Plane baseline on the same scenes to its plateau, then the warm RGB control (from the mean\n"
            "scene and MLP of an RGB run on the stage-1 scenes: builtin:torcs-cars-rgb for the stage-1 cars it\n"
            "was trained on, else trained here), and print `latentscenes compare` of the three: held-out and\n"
            "training-view PSNR, how close each curve ended to its plateau, and the seconds per scene each\n"
            "took to reach the cold RGB curve's end - 1 dB, with the one-time costs (autoencoder, stage 1,\n"
            "the warm start's RGB run) amortised over 17, 100 and 1000 scenes. Writes OUT/report.html and\n"
            "OUT/demo.json. The RGB runs train one after the other beside stages 1 and 2 (half of torch's\n"
            "threads each; --one-at-a-time to run them after). Each run is a named recipe (`latentscenes\n"
            "recipes`) with the demo's views and curve points. Re-running with the same --out resumes."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", default="demo", help="folder for data and runs (default ./demo)")
    parser.add_argument("--source", choices=SOURCES, default=DemoSettings.source,
                        help="dataset source: torcs (cars), flightgear-aircraft (a category the shipped "
                        "autoencoder never saw), pybullet-objects (needs no apt); default %(default)s")
    parser.add_argument("--scenes", type=int, default=DemoSettings.scenes, help="scenes to build (default %(default)s: every TORCS car)")
    parser.add_argument("--views", type=int, default=DemoSettings.views,
                        help="views per scene: the first 10 held out (the curves and the results), the rest train "
                        "(default %(default)s: 20 training views, as the shipped stage 1's cars had)")
    parser.add_argument("--size", type=int, default=DemoSettings.size, help="image size (default %(default)s)")
    parser.add_argument("--holdout-meshes", type=float, default=DemoSettings.holdout_meshes,
                        help="scenes held out of stage 1: all scenes of this many meshes (>= 1), or about this fraction of the "
                        "scenes in whole meshes (< 1; e.g. 0.22 for flightgear-aircraft, whose first scenes "
                        "are one per model); default %(default)s (17 of the 76 TORCS cars)")
    parser.add_argument("--new-scenes", type=int, default=DemoSettings.new_scenes,
                        help="held-out scenes learned by stage 2 and the RGB runs (default %(default)s; 2 cost each "
                        "step twice the rays: about 19 minutes on 2 cores)")
    parser.add_argument("--first-new", type=int, default=DemoSettings.first_new,
                        help="the first of them among the held-out scenes (default %(default)s: car 66 of the TORCS "
                        "build; the first four held-out cars chose the project's settings)")
    parser.add_argument("--recipe", choices=sorted(RECIPES), default=DEFAULT_RECIPE,
                        help="stage 2's named recipe (`latentscenes recipes`): latent-1x-short (default; full "
                        "resolution, 128 x 128 x 16 latents, about 11 minutes on 2 cores with the RGB runs), latent-1x (the "
                        "same run to its plateau) or latent-2x (64 x 64 x 8 latents, 0.38 dB below the 1x recipe's "
                        "PSNR on cars 66-67); stage 1 is the one its stage-1 recipe shipped")
    parser.add_argument("--train-stage1", action="store_true",
                        help="train stage 1 here (its recipe, ~15 min on one core) even where the "
                        "shipped one was trained on this build's stage-1 cars")
    parser.add_argument("--torcs-root", help="an extracted torcs-data tree (default: fetch and cache it)")
    parser.add_argument("--flightgear-root", help="an extracted flightgear-data-ai tree (default: fetch and cache it)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--one-at-a-time", action="store_true",
                        help="train the RGB runs after stage 2 with all of torch's threads, instead of beside "
                        "stage 1 and stage 2 with half of them (the default when there are two or more)")
    parser.add_argument(
        "overrides", nargs="*", metavar="key=value",
        help="overrides of the stage-1 config; latent.key=value override stage 2, rgb.key=value every RGB "
        "run: cold, warm (after its own 600 steps) and the warm start's RGB run where the demo trains it "
        "(e.g. latent.encode.steps=100 rgb.fit.steps=300)",
    )


def run(args: argparse.Namespace) -> int:
    check_source_roots(args.source, args.torcs_root, args.flightgear_root)
    summary = run_demo(
        DemoSettings(
            out=Path(args.out), source=args.source, scenes=args.scenes, views=args.views, size=args.size,
            holdout_meshes=args.holdout_meshes, new_scenes=args.new_scenes, first_new=args.first_new,
            train_stage1=args.train_stage1, torcs_root=args.torcs_root, flightgear_root=args.flightgear_root,
            overrides=tuple(args.overrides), progress=not args.no_progress,
            side_by_side=not args.one_at_a_time, recipe=args.recipe,
        )
    )
    print(format_summary(summary))
    print(f"details: {Path(args.out) / 'demo.json'}; renders in {Path(args.out) / 'runs'}/*/renders")
    print(f"report: {summary['report']}")
    return 0
