"""`latentscenes export RUN --out DIR`: a finished run's scenes in a documented folder layout."""

from __future__ import annotations

import argparse
from pathlib import Path

from latentscenes.engine.runs import open_finished_run
from latentscenes.export.writer import write_export
from latentscenes.recipes.restore import load_trained


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="a finished run's scenes as Tri-Planes in safetensors, with what renders them",
        description=(
            "Write every scene of a finished run to DIR: its full Tri-Plane (micro-macro resolved into\n"
            "one (3, C, R, R) tensor) and its views' cameras in scenes/NNNNNN.safetensors, the shared MLP,\n"
            "the render settings and, for latent runs, the autoencoder (decoder and latent normaliser)\n"
            "with the latent background. Layout and conventions: docs/export.md. Scenes are written one\n"
            "at a time; DIR appears only when complete. Read it with\n"
            "latentscenes.export.ExportedScenes(DIR), which needs no run folder."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run", help="run folder (made by fit or train, finished)")
    parser.add_argument("--out", required=True, help="export folder to create (must not exist or be empty)")


def run(args: argparse.Namespace) -> int:
    run_dir = open_finished_run(args.run)
    model, collection = load_trained(run_dir)
    out = write_export(run_dir, model, collection, Path(args.out))
    print(f"exported {len(collection)} scenes to {out}")
    return 0
