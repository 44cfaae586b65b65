"""Weights shipped with the package, each in a folder with `provenance.json`: the command
that trained them, on which scenes (source meshes), and their measured quality.
`docs/log/benchmarks.md` records the full reproduction. Four kinds:
- autoencoders, chosen with `autoencoder.vae=builtin:<name>`: what `save_autoencoder`
  writes (diffusers `config.json` + safetensors and the latent normaliser);
- stage-1 runs, chosen with `fit --space latent --from builtin:<name>`: a compact stage-1
  run folder (`recipes.compact_stage1`: its config, base planes, MLP and mean scene, and its
  autoencoder or, when that is a shipped one unchanged, `autoencoder.json` naming it),
  recognised by its `run.json`;
- learned starts, chosen with `fit --space latent scene_init=learned start=builtin:<name>`:
  what `latentscenes start train` writes (`models.learned_start`: `start.json` and
  `start.safetensors`), recognised by its `start.json`;
- RGB starts, chosen with `fit --space rgb init_from=builtin:<name>` (the warm RGB control): a
  compact RGB run on the stage-1 scenes (`recipes.compact_stage1`: its config, MLP and mean
  scene), recognised by its `run.json` of kind `fit-rgb`.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from latentscenes.errors import ConfigError

PREFIX = "builtin:"
PROVENANCE = "provenance.json"
AUTOENCODER = "autoencoder"
STAGE1 = "stage-1 run"
START = "learned start"
RGB_START = "RGB start"


def _root() -> Path:
    return Path(str(resources.files("latentscenes") / "weights"))


def _kind(folder: Path) -> str:
    if (folder / "start.json").is_file():
        return START
    if not (folder / "run.json").is_file():
        return AUTOENCODER
    return RGB_START if json.loads((folder / "run.json").read_text())["kind"] == "fit-rgb" else STAGE1


def builtin_names(kind: str = AUTOENCODER) -> list[str]:
    """Names of the shipped weights of `kind` (autoencoders, stage-1 runs, learned or RGB starts)."""
    return sorted(p.name for p in _root().iterdir() if (p / PROVENANCE).is_file() and _kind(p) == kind)


def is_builtin(source: str) -> bool:
    return source.startswith(PREFIX)


def builtin_folder(source: str, key: str = "autoencoder.vae", kind: str = AUTOENCODER) -> Path:
    """The folder of `builtin:<name>`, shipped weights of `kind`; an unknown name is a
    `ConfigError` naming the config `key` and listing the known ones of that kind."""
    name = source[len(PREFIX) :]
    if name not in builtin_names(kind):
        raise ConfigError(
            f"config key '{key}': no shipped {kind} named {name!r} "
            f"(shipped: {', '.join(PREFIX + n for n in builtin_names(kind)) or 'none'})"
        )
    return _root() / name


def provenance(source: str) -> dict:
    """The provenance record of `builtin:<name>`, of either kind (command, data, quality)."""
    folder = _root() / source[len(PREFIX) :]
    kind = _kind(folder) if folder.is_dir() else AUTOENCODER
    return json.loads((builtin_folder(source, kind=kind) / PROVENANCE).read_text())


def training_seconds(source: str) -> float:
    """Seconds of training that made `builtin:<name>`, with those of the shipped weights it
    started from (`starts_from` in its provenance)."""
    record = provenance(source)
    earlier = record.get("starts_from")
    return float(record["train_seconds"]) + (training_seconds(earlier) if earlier else 0.0)
