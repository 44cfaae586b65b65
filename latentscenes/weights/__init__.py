"""Autoencoder weights shipped with the package, chosen with `autoencoder.vae=builtin:<name>`.

Each folder is what `save_autoencoder` writes (diffusers `config.json` + safetensors and
the latent normaliser) plus `provenance.json`: the command that trained it, on which
scenes (source meshes), and its measured reconstruction quality. `docs/benchmarks.md`
records the full reproduction.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from latentscenes.errors import ConfigError

PREFIX = "builtin:"
PROVENANCE = "provenance.json"


def _root() -> Path:
    return Path(str(resources.files("latentscenes") / "weights"))


def builtin_names() -> list[str]:
    """Names of the shipped autoencoders."""
    return sorted(p.name for p in _root().iterdir() if (p / PROVENANCE).is_file())


def is_builtin(source: str) -> bool:
    return source.startswith(PREFIX)


def builtin_folder(source: str, key: str = "autoencoder.vae") -> Path:
    """The folder of `builtin:<name>`; an unknown name is a `ConfigError` naming the config
    `key` and listing the known ones."""
    name = source[len(PREFIX) :]
    if name not in builtin_names():
        raise ConfigError(
            f"config key '{key}': no shipped weights named {name!r} "
            f"(shipped: {', '.join(PREFIX + n for n in builtin_names()) or 'none'})"
        )
    return _root() / name


def provenance(source: str) -> dict:
    """The provenance record of `builtin:<name>` (command, data, quality)."""
    return json.loads((builtin_folder(source) / PROVENANCE).read_text())


def training_seconds(source: str) -> float:
    """Seconds of training that made `builtin:<name>`, with those of the shipped weights it
    started from (`starts_from` in its provenance)."""
    record = provenance(source)
    earlier = record.get("starts_from")
    return float(record["train_seconds"]) + (training_seconds(earlier) if earlier else 0.0)
