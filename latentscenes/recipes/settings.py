"""Config sections shared by every training command: logging, checkpoints, evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from latentscenes.config import option


@dataclass
class LoggingConfig:
    backend: Literal["tensorboard", "wandb", "none"] = option(
        "tensorboard", "where scalars and images go besides logs/metrics.jsonl (wandb runs offline)"
    )
    log_every: int = option(10, "steps between logged losses", min=1)
    checkpoint_every: int = option(200, "steps between checkpoints (atomic; --resume continues from the last)", min=1)
    progress: bool = option(True, "show progress bars")


@dataclass
class EvalConfig:
    every: int = option(100, "steps between evaluations of held-out views during training (0: only at the end)", min=0)
    scenes: int = option(8, "scenes evaluated during training (from eval.first on)", min=1)
    first: int = option(
        0, "position among the run's scenes of the first one evaluated during training (e.g. new meshes among many)", min=0
    )
    views: int = option(2, "held-out views per scene evaluated during training", min=1)
