"""`latentscenes render RUN`: turntable videos, frames, depth maps and views from given
poses of a finished run's scenes."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from latentscenes.data.srn import read_poses
from latentscenes.engine.runs import open_finished_run, run_kind
from latentscenes.errors import LatentScenesError
from latentscenes.recipes.restore import load_trained
from latentscenes.reports.turntables import TurntableSettings, render_scene_files, select_scenes
from latentscenes.reports.videos import FORMATS


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "render",
        help="turntable videos, frames, depth maps and views from given poses of a run's scenes",
        description=(
            "Render a finished run's scenes (RGB, stage 1 or stage 2; latent scenes are decoded by the\n"
            "run's autoencoder) from new cameras. For each scene, in OUT/<scene_id>/:\n"
            "  turntable.mp4 (GIF when MP4 cannot be written), turntable/NNNN.png frames,\n"
            "  turntable/depth-NNNN.png and turntable/depth.npy depth maps;\n"
            "  with --latent: turntable-latent.mp4 and turntable/latent-NNNN.png, the rendered latent\n"
            "  channels (one grey tile each);\n"
            "  with --poses FILE: the same files in poses/ for views from those cameras.\n"
            "Cameras use the scene's intrinsics, rescaled to --size; the orbit's radius and elevation\n"
            "default to the median of the scene's own cameras (OpenCV cam2world, world z up)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run", help="run folder (made by fit or train, finished)")
    parser.add_argument("--scenes", help="comma-separated scene ids or indices (default: the first three)")
    parser.add_argument("--out", help="output folder (default RUN/renders)")
    parser.add_argument("--frames", type=int, default=36, help="turntable frames; 0: no turntable (default 36)")
    parser.add_argument("--elevation", type=float, help="turntable elevation in degrees (default: the scene's cameras')")
    parser.add_argument("--radius", type=float, help="turntable radius (default: the scene's cameras')")
    parser.add_argument("--size", type=int, help="image height in pixels (default: the scene's images')")
    parser.add_argument("--fps", type=float, default=12.0, help="video frames per second (default 12)")
    parser.add_argument("--format", choices=FORMATS, default="mp4", help="video format (default mp4, GIF without ffmpeg)")
    parser.add_argument(
        "--poses", metavar="FILE",
        help="also render views from these cam2world poses: an SRN pose file (16 numbers per 4x4 OpenCV pose, "
        "several poses one after the other) or a folder of them (an SRN scene's pose/)",
    )
    parser.add_argument("--latent", action="store_true", help="latent runs: also save the rendered latent channels")


def run(args: argparse.Namespace) -> int:
    if args.frames < 0 or (args.size is not None and args.size < 1) or args.fps <= 0:
        raise LatentScenesError("--frames must be >= 0, --size >= 1 and --fps > 0")
    poses = torch.from_numpy(read_poses(Path(args.poses))).float() if args.poses else None
    if not args.frames and poses is None:
        raise LatentScenesError("nothing to render: --frames 0 and no --poses")
    run_dir = open_finished_run(args.run)
    if args.latent and run_kind(run_dir) == "fit-rgb":
        raise LatentScenesError(f"--latent: {run_dir.root} is an RGB run; it renders no latents")
    model, collection = load_trained(run_dir)
    if args.scenes:
        rows = select_scenes(collection, [item.strip() for item in args.scenes.split(",") if item.strip()])
    else:
        rows = list(range(min(3, len(collection))))
    settings = TurntableSettings(
        frames=args.frames, elevation=args.elevation, radius=args.radius, size=args.size, fps=args.fps,
        format=args.format, latent=args.latent,
    )
    out = Path(args.out) if args.out else run_dir.renders
    for row in rows:
        scene = collection.scenes[row]
        written = render_scene_files(model, row, scene, settings, out / scene.scene_id, poses)
        print(f"{scene.scene_id}: " + ", ".join(str(path) for path in written))
    return 0
