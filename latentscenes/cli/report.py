"""`latentscenes report RUN [RUN ...] --out report.html`: one self-contained HTML page."""

from __future__ import annotations

import argparse
from pathlib import Path

from latentscenes.reports.page import ReportSettings, write_report
from latentscenes.reports.turntables import TurntableSettings
from latentscenes.reports.videos import FORMATS


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="one self-contained HTML page about finished runs: verdict, tables, curves, views, turntables",
        description=(
            "Write one HTML file (images and videos embedded, no server, no network) about finished runs:\n"
            "which of latent and RGB Tri-Planes on the same scenes won, by how much and at what cost\n"
            "(matched-PSNR speed-up), the evaluation table (RUN/eval.json when present, else the last\n"
            "training-curve point) and cost table, held-out PSNR and training loss against seconds,\n"
            "held-out views (ground truth | each run | the autoencoder's reconstruction), turntables and\n"
            "each run's config."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("runs", nargs="+", metavar="RUN", help="finished run folders (made by fit or train)")
    parser.add_argument("--out", required=True, help="HTML file to write")
    parser.add_argument("--grid-scenes", type=int, default=4, help="scenes in the held-out view grid (default 4)")
    parser.add_argument("--turntable-scenes", type=int, default=2, help="turntables per run (default 2)")
    parser.add_argument("--frames", type=int, default=24, help="frames per turntable (default 24)")
    parser.add_argument("--format", choices=FORMATS, default="mp4", help="turntable format (default mp4, GIF without ffmpeg)")


def run(args: argparse.Namespace) -> int:
    from latentscenes.errors import LatentScenesError

    if args.grid_scenes < 1 or args.turntable_scenes < 0 or args.frames < 1:
        raise LatentScenesError("--grid-scenes and --frames must be >= 1, --turntable-scenes >= 0")
    settings = ReportSettings(
        grid_scenes=args.grid_scenes, turntable_scenes=args.turntable_scenes,
        turntable=TurntableSettings(frames=args.frames, format=args.format),
    )
    out = write_report(args.runs, Path(args.out), settings)
    print(f"wrote {out}")
    return 0
