"""Checkpoints: tensors in safetensors, everything else in JSON, written atomically.

A checkpoint is a folder `checkpoints/step-00001234/` holding `tensors.safetensors`
(model and optimiser tensors, RNG states) and `meta.json` (step, phase, optimiser
hyperparameters, anything JSON-able). The folder is written under a temporary name and
renamed into place, then `checkpoints/latest.json` is replaced atomically, so a crash at
any moment leaves the previous checkpoint usable. Never pickle.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from latentscenes.errors import CheckpointError
from latentscenes.io import atomic_write_json

TENSORS = "tensors.safetensors"
META = "meta.json"
LATEST = "latest.json"


def save_checkpoint(
    folder: Path, name: str, tensors: dict[str, torch.Tensor], meta: dict[str, Any], keep: int = 2
) -> Path:
    """Write `folder/name/` atomically, point `latest.json` at it, keep the newest `keep`."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=folder))
    try:
        save_file({key: value.detach().contiguous().cpu() for key, value in tensors.items()}, tmp / TENSORS)
        (tmp / META).write_text(json.dumps(meta, indent=2, sort_keys=True))
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    atomic_write_json(folder / LATEST, {"name": name})
    _prune(folder, keep, protect=name)
    return target


def load_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load a checkpoint folder, or the latest one when `path` is a checkpoints folder."""
    path = Path(path)
    if (path / LATEST).is_file():
        path = path / _read_json(path / LATEST)["name"]
    if not (path / TENSORS).is_file() or not (path / META).is_file():
        raise CheckpointError(f"{path} is not a checkpoint (needs {TENSORS} and {META})")
    try:
        tensors = load_file(path / TENSORS)
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{path / TENSORS} is corrupt: {error}") from None
    return tensors, _read_json(path / META)


def latest_checkpoint(folder: Path) -> Path | None:
    if not (folder / LATEST).is_file():
        return None
    return folder / _read_json(folder / LATEST)["name"]


def optimizer_to_flat(optimizer: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimiser state dict into tensors (for safetensors) and JSON-able metadata."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, entries in state["state"].items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.{index}.{key}"] = value
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def optimizer_from_flat(
    optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict, prefix: str
) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith(prefix + "."):
            index, name = key[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(index), {})[name] = value
    for key, value in meta["scalars"].items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    try:
        optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    except (ValueError, KeyError) as error:
        raise CheckpointError(f"optimiser state '{prefix}' does not match this model: {error}") from None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path} is unreadable or not JSON: {error}") from None


def _prune(folder: Path, keep: int, protect: str) -> None:
    checkpoints = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    for old in checkpoints[:-keep]:
        if old.name != protect:
            shutil.rmtree(old)


def load_model_weights(model: torch.nn.Module, folder: Path) -> dict[str, Any]:
    """Load the `model.*` tensors of the latest checkpoint in `folder` into `model`; returns its meta."""
    tensors, meta = load_checkpoint(folder)
    state = {key[len("model.") :]: value for key, value in tensors.items() if key.startswith("model.")}
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise CheckpointError(f"checkpoint in {folder} does not match the run's model: {error}") from None
    return meta
