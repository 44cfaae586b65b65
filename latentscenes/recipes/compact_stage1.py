"""A finished stage-1 run reduced to what stage 2 starts from, small enough to ship with the
package (`latentscenes export RUN --stage1 --out DIR`, then `fit --from DIR` or, shipped,
`fit --from builtin:<name>`).

Stage 2 reads four things from stage 1 (`recipes.stage2.build_stage2_model`): its config
(plane sizes, MLP, autoencoder settings), its autoencoder, its base planes and MLP, and the
mean of its scenes, where every new scene starts (`scene_init=mean`). The compact run keeps
exactly those (its autoencoder as a reference, `autoencoder.json`, when it is a shipped one unchanged): a run folder whose bank holds one scene, the stage-1 scenes' mean, and whose
checkpoint has no optimiser or sampler state. Planes are stored in float16 (half the bytes;
stage 2 trains in float32 and fine-tunes the bases anyway); the MLP stays float32. The
checkpoint keeps stage 1's `train_seconds`, so the one-time costs stage 2 reports are the
same as from the full run.

The warm RGB control starts the same way from an RGB run on the stage-1 scenes (`fit --space
rgb init_from=DIR`): its compact copy keeps the config, the MLP and the mean scene.
"""

from __future__ import annotations

import filecmp
import json
import shutil
import tempfile
from pathlib import Path

import torch

from latentscenes.autoencoder.model import NORMALIZER_JSON
from latentscenes.config import load_config
from latentscenes.engine.checkpoint import load_checkpoint, save_checkpoint
from latentscenes.engine.runs import CONFIG_FILE, RUN_FILE, RunDir, open_finished_run, open_run, run_kind
from latentscenes.errors import LatentScenesError
from latentscenes.recipes.stage1 import (
    AUTOENCODER_FOLDER, AUTOENCODER_REFERENCE, TrainConfig, autoencoder_folder, open_stage1_run,
)
from latentscenes.recipes.rgb import FitRGBConfig
from latentscenes.scenes import SceneBank
from latentscenes.weights import builtin_folder, is_builtin

CHECKPOINT_NAME = "compact"


def compact_tensors(
    tensors: dict[str, torch.Tensor], config: TrainConfig | FitRGBConfig, half: bool = True
) -> dict[str, torch.Tensor]:
    """The tensors stage 2 starts from, out of a stage-1 checkpoint's: `model.bank.bases`,
    `model.mlp.*` and, for each per-scene tensor (N, ...), its mean over the N scenes (1, ...).
    Planes (bases, micro or plain planes) in float16 when `half`."""
    names = SceneBank(0, config.planes).per_scene_names()
    out = {key: value for key, value in tensors.items() if key.startswith("model.mlp.")}
    if config.planes.micro_macro:
        out["model.bank.bases"] = tensors["model.bank.bases"]
    for name in names:
        out[f"model.bank.{name}"] = tensors[f"model.bank.{name}"].mean(0, keepdim=True)
    plane_keys = {"model.bank.bases", "model.bank.micro", "model.bank.planes"}
    return {
        key: (value.half() if half and key in plane_keys else value).contiguous() for key, value in out.items()
    }


def write_compact_stage1(run_path: str | Path, out: str | Path, half: bool = True) -> Path:
    """Write the compact copy of the finished stage-1 run `run_path` (a latent stage 1, or an RGB
    run that warm RGB scenes start from) to `out` (which must not exist or be empty); `out`
    appears only when complete."""
    run = _open_start_run(run_path)
    rgb = run_kind(run) == "fit-rgb"
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise LatentScenesError(f"export folder {out} exists and is not empty")
    config = load_config(FitRGBConfig if rgb else TrainConfig, run.config_path)
    tensors, meta = load_checkpoint(run.checkpoints)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        shutil.copy2(run.config_path, tmp / CONFIG_FILE)
        if not rgb:
            _keep_autoencoder(run, config, tmp)
        run_record = json.loads((run.root / RUN_FILE).read_text())
        (tmp / RUN_FILE).write_text(json.dumps({**run_record, "compact": True}, indent=2))
        compact = compact_tensors(tensors, config, half)
        averaged = tensors[f"model.bank.{SceneBank(0, config.planes).per_scene_names()[0]}"].shape[0]
        save_checkpoint(
            RunDir(tmp).checkpoints, CHECKPOINT_NAME, compact,
            {"global_step": meta["global_step"], "train_seconds": meta["train_seconds"],
             "scenes_averaged": int(averaged), "compacted_from": run.root.name},
        )
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out


def _open_start_run(folder: str | Path) -> RunDir:
    """A finished stage-1 run or a finished RGB run; any other is a `LatentScenesError`."""
    run = open_run(folder)
    if json.loads((run.root / RUN_FILE).read_text()).get("compact"):
        raise LatentScenesError(f"{run.root} is a compact copy already (export --stage1)")
    kind = run_kind(run)
    if kind not in ("train", "fit-rgb"):
        raise LatentScenesError(f"{run.root} is a '{kind}' run, not a stage-1 (train) or RGB (fit --space rgb) run")
    return open_finished_run(folder) if kind == "fit-rgb" else open_stage1_run(folder)


def _keep_autoencoder(run: RunDir, config: TrainConfig, out: Path) -> None:
    """A reference to the shipped autoencoder the run kept unchanged, else a copy of its own."""
    shipped = config.autoencoder.vae
    if is_builtin(shipped) and _same_weights(autoencoder_folder(run), builtin_folder(shipped)):
        (out / AUTOENCODER_REFERENCE).write_text(json.dumps({"builtin": shipped}) + "\n")
    else:
        shutil.copytree(autoencoder_folder(run), out / AUTOENCODER_FOLDER)


def _same_weights(folder: Path, shipped: Path) -> bool:
    """Whether the autoencoder in `folder` is the one in `shipped` byte for byte: its weights and
    latent normaliser (the config differs only in the name it was loaded by)."""
    names = [path.name for path in shipped.iterdir() if path.suffix == ".safetensors" or path.name == NORMALIZER_JSON]
    return all((folder / name).is_file() and filecmp.cmp(folder / name, shipped / name, shallow=False) for name in names)
