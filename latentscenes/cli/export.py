"""Write every scene of a finished run to DIR: its full Tri-Plane (micro-macro resolved into
one (3, C, R, R) tensor) and its views' cameras in scenes/NNNNNN.safetensors, the shared MLP,
the render settings and, for latent runs, the autoencoder (decoder and latent normaliser)
with the latent background. Layout and conventions: docs/export.md. Scenes are written one
at a time; DIR appears only when complete. Read it with
latentscenes.export.ExportedScenes(DIR), which needs no run folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from latentscenes.cli.common import add_command
from latentscenes.engine.runs import open_finished_run, open_run, run_kind
from latentscenes.export.writer import write_export
from latentscenes.recipes.compact_stage1 import write_compact_stage1
from latentscenes.recipes.restore import load_trained


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "export", "a finished run's scenes as Tri-Planes in safetensors, with what renders them", __doc__
    )
    parser.add_argument("run", help="run folder (made by fit or train, finished)")
    parser.add_argument("--out", required=True, help="export folder to create (must not exist or be empty)")
    parser.add_argument(
        "--stage1", action="store_true",
        help="instead: a compact copy of a stage-1 (train) run with what stage 2 starts from (config, "
        "autoencoder, base planes and MLP, the stage-1 scenes' mean; planes in float16), a run folder that "
        "`fit --space latent --from DIR` takes; of an RGB run on the stage-1 scenes, what the warm RGB control "
        "starts from (`fit --space rgb init_from=DIR`). How the shipped builtin:<name> starts were made",
    )


def run(args: argparse.Namespace) -> int:
    if args.stage1:
        out = write_compact_stage1(args.run, args.out)
        use = f"fit --space rgb init_from={out}" if run_kind(open_run(out)) == "fit-rgb" else f"fit --space latent --from {out}"
        print(f"wrote the compact copy {out} ({use})")
        return 0
    run_dir = open_finished_run(args.run)
    model, collection = load_trained(run_dir)
    out = write_export(run_dir, model, collection, Path(args.out))
    print(f"exported {len(collection)} scenes to {out}")
    return 0
