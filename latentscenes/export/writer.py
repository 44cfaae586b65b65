"""Write a finished run's scenes to an export folder (docs/export.md), one scene at a time."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors.torch import save_file

from latentscenes import __version__
from latentscenes.autoencoder import save_autoencoder
from latentscenes.config import save_config
from latentscenes.engine.runs import RunDir, run_kind
from latentscenes.errors import LatentScenesError
from latentscenes.export.reader import (
    AUTOENCODER,
    EXPORT_JSON,
    FORMAT,
    MLP_WEIGHTS,
    MLP_YAML,
    RENDER_YAML,
    SCENES_JSON,
    VERSION,
    scene_file,
)
from latentscenes.io import atomic_write_json
from latentscenes.rendering.triplane import PLANE_AXES

CAMERAS = (
    "cam2world: 4x4, OpenCV (camera x right, y down, z forward), world z up, scenes inside "
    "[-box/2, box/2]^3; intrinsics: 3x3 in pixels of the scene's height x width images, pixel "
    "(row i, column j) centred at (j + 0.5, i + 0.5)"
)
PLANES = (
    "planes (3, C, R, R) cover [-box/2, box/2]^3; plane p sees the world axes axes[p]; texel (i, j) of plane "
    "(a, b) sits at a = -box/2 + (j + 0.5) box / R, b = -box/2 + (i + 0.5) box / R (align_corners=False); "
    "features of the three planes are combined by render.aggregate, zero outside the cube"
)


def write_export(run: RunDir, model, collection, out: Path) -> Path:
    """Export every scene of `run` (its `model` and `collection` from `load_trained`) to `out`,
    which must not exist or be empty. Scenes are resolved and written one at a time; the
    folder appears under its name only when complete."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise LatentScenesError(f"export folder {out} is not empty; choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    staging.chmod(0o755)  # mkdtemp's folder is private; the export is meant to be shared
    try:
        _write(staging, run, model, collection)
        if out.exists():
            out.rmdir()
        os.replace(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return out


def _write(folder: Path, run: RunDir, model, collection) -> None:
    (folder / "scenes").mkdir()
    scenes = collection.scenes
    decoding = model.latent_decoding(scenes[0]) if scenes else None
    save_config(model.render_config, folder / RENDER_YAML)
    save_config(model.mlp.config, folder / MLP_YAML)
    save_file({k: v.detach().contiguous() for k, v in model.mlp.state_dict().items()}, str(folder / MLP_WEIGHTS))
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "written_by": f"latentscenes {__version__}",
        "run": {"kind": run_kind(run), "path": str(run.root)},
        "space": "rgb" if decoding is None else "latent",
        "num_scenes": len(scenes),
        "planes": {"shape": list(model.bank(torch.tensor([0])).shape[1:]) if scenes else None,
                   "dtype": "float32", "axes": [["xyz"[a], "xyz"[b]] for a, b in PLANE_AXES], "convention": PLANES},
        "mlp": {"in_channels": model.mlp.in_channels, "out_channels": model.mlp.out_channels},
        "cameras": CAMERAS,
    }
    if decoding is not None:
        save_autoencoder(model.autoencoder, folder / AUTOENCODER)
        meta["latent"] = {
            "factor": decoding.factor,
            "channels": model.autoencoder.latent_channels,
            "background": [float(v) for v in decoding.background],
            "background_size": [scenes[0].height, scenes[0].width],
        }
    infos = []
    with torch.no_grad():
        for row, scene in enumerate(scenes):
            planes = model.bank(torch.tensor([row]))[0].float().contiguous()
            tensors = {"planes": planes, "cam2world": scene.cam2world.float().contiguous(),
                       "intrinsics": scene.intrinsics.float().contiguous()}
            save_file(tensors, str(folder / scene_file(row)))
            infos.append({"id": scene.scene_id, "file": scene_file(row), "height": scene.height,
                          "width": scene.width, "num_test_views": scene.num_test_views,
                          "num_val_views": scene.num_val_views})
    atomic_write_json(folder / SCENES_JSON, {"scenes": infos})
    atomic_write_json(folder / EXPORT_JSON, meta)
