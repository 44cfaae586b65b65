"""Checkpoints: tensors in safetensors, everything else in JSON, written atomically.

A checkpoint is a folder `checkpoints/step-00001234/` holding `tensors.safetensors`
(model and optimiser tensors, RNG states) and `meta.json` (step, phase, optimiser
hyperparameters, anything JSON-able). The folder is written under a temporary name and
renamed into place, then `checkpoints/latest.json` is replaced atomically, so a crash at
any moment leaves the previous checkpoint usable. `meta.json` records the size and SHA-256
of the tensors file: a truncated or damaged checkpoint is detected on load and never used
(resuming falls back to the newest intact one). Never pickle.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
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
_CHUNK = 1 << 24


def save_checkpoint(
    folder: Path, name: str, tensors: dict[str, torch.Tensor], meta: dict[str, Any], keep: int = 2
) -> Path:
    """Write `folder/name/` atomically, point `latest.json` at it, keep the newest `keep`."""
    folder.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(folder)
    target = folder / name
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=folder))
    try:
        try:
            save_file({key: value.detach().contiguous().cpu() for key, value in tensors.items()}, tmp / TENSORS)
        except SafetensorError as error:  # a full disk or a file-size limit: the last checkpoint stays
            raise CheckpointError(f"cannot write checkpoint {target}: {error}") from None
        _sync(tmp / TENSORS)
        meta = {**meta, "tensors_bytes": (tmp / TENSORS).stat().st_size, "tensors_sha256": _sha256(tmp / TENSORS)}
        (tmp / META).write_text(json.dumps(meta, indent=2, sort_keys=True))
        _sync(tmp / META)
        if target.exists():  # the same step saved again (the final save): move the old one aside first
            target.rename(folder / f".{name}.replaced")
        tmp.rename(target)
        _sync(folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    atomic_write_json(folder / LATEST, {"name": name})
    _remove_leftovers(folder)
    _prune(folder, keep, protect=name)
    return target


def load_checkpoint(path: Path, fall_back: bool = False) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load a checkpoint folder, or the latest one when `path` is a checkpoints folder.

    A checkpoint whose tensors file does not match the size and SHA-256 in its meta is
    refused. `fall_back` (resuming): when the latest checkpoint is missing or damaged, load
    the newest intact one instead, with a warning."""
    path = Path(path)
    if (path / META).exists() or (path / TENSORS).exists() or not path.is_dir():
        return _load_one(path)
    candidates = [p for p in [latest_checkpoint(path)] if p is not None]
    if fall_back:
        candidates += [p for p in reversed(_checkpoint_folders(path)) if p not in candidates]
    if not candidates:
        raise CheckpointError(f"{path} holds no checkpoint")
    first_error: CheckpointError | None = None
    for candidate in candidates:
        try:
            loaded = _load_one(candidate)
        except CheckpointError as error:
            first_error = first_error or error
            continue
        if first_error is not None:
            warnings.warn(f"{first_error}; using the intact checkpoint {candidate} instead")
        return loaded
    raise first_error


def _load_one(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    if not (path / TENSORS).is_file() or not (path / META).is_file():
        raise CheckpointError(f"{path} is not a checkpoint (needs {TENSORS} and {META})")
    meta = _read_json(path / META)
    size = (path / TENSORS).stat().st_size
    if "tensors_bytes" in meta and (size != meta["tensors_bytes"] or _sha256(path / TENSORS) != meta["tensors_sha256"]):
        raise CheckpointError(
            f"{path / TENSORS} is damaged: its size or SHA-256 differs from the one in {path / META} "
            f"({size} bytes, {meta['tensors_bytes']} written)"
        )
    try:
        tensors = load_file(path / TENSORS)
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{path / TENSORS} is corrupt: {error}") from None
    return tensors, meta


def latest_checkpoint(folder: Path) -> Path | None:
    """The checkpoint `latest.json` names, or None when there is none yet."""
    if not (folder / LATEST).is_file():
        return None
    try:
        return folder / _read_json(folder / LATEST)["name"]
    except KeyError:
        raise CheckpointError(f"{folder / LATEST} names no checkpoint") from None


def latest_meta(folder: Path) -> dict[str, Any]:
    """The `meta.json` of the latest checkpoint in `folder` (step, train_seconds, ...), without
    reading its tensors."""
    latest = latest_checkpoint(folder)
    if latest is None or not (latest / META).is_file():
        raise CheckpointError(f"{folder} holds no checkpoint")
    return _read_json(latest / META)


def has_checkpoint(folder: Path) -> bool:
    """Whether `folder` holds a checkpoint (resuming a run killed before its first one starts afresh)."""
    return folder.is_dir() and bool(_checkpoint_folders(folder))


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


def _checkpoint_folders(folder: Path) -> list[Path]:
    """Complete checkpoint folders (temporary ones start with a dot), oldest first."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _prune(folder: Path, keep: int, protect: str) -> None:
    for old in _checkpoint_folders(folder)[:-keep]:
        if old.name != protect:
            shutil.rmtree(old)


def _remove_leftovers(folder: Path) -> None:
    """Temporary folders of saves that a crash interrupted (one process writes a run at a time:
    `latentscenes.engine.runs.hold_run`)."""
    for leftover in folder.iterdir():
        if leftover.is_dir() and leftover.name.startswith("."):
            shutil.rmtree(leftover, ignore_errors=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _sync(path: Path) -> None:
    """Flush `path` (a file or folder) to disk, so a rename never publishes unwritten data."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_model_weights(model: torch.nn.Module, folder: Path) -> dict[str, Any]:
    """Load the `model.*` tensors of the latest checkpoint in `folder` into `model`; returns its meta."""
    tensors, meta = load_checkpoint(folder)
    state = {key[len("model.") :]: value for key, value in tensors.items() if key.startswith("model.")}
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise CheckpointError(f"checkpoint in {folder} does not match the run's model: {mismatch(error)}") from None
    return meta


def mismatch(error: Exception) -> str:
    """torch's multi-line `load_state_dict` error as one line: its specific problems."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return "; ".join(lines[1:] or lines)
