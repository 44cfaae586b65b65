"""Training logs: `logs/metrics.jsonl` always, plus TensorBoard (default) or W&B (offline).

Open them with `tensorboard --logdir RUN/logs` or `wandb sync RUN/logs/wandb/offline-run-*`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from latentscenes.errors import LatentScenesError

Backend = Literal["tensorboard", "wandb", "none"]


class MetricLogger:
    """Logs into `folder`; with None, nothing (the processes of a `torchrun` run but rank 0)."""

    def __init__(self, folder: Path | None, backend: Backend, run_name: str, config: dict | None = None):
        self.folder = folder
        self._jsonl = None
        self._tensorboard = None
        self._wandb = None
        if folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self._jsonl = (folder / "metrics.jsonl").open("a")
        if backend == "tensorboard":
            from torch.utils.tensorboard import SummaryWriter

            self._tensorboard = SummaryWriter(log_dir=str(folder))
        elif backend == "wandb":
            try:
                import wandb
            except ImportError:
                raise LatentScenesError(
                    "logging.backend=wandb needs the wandb package: pip install 'latentscenes[wandb]'"
                ) from None
            self._wandb = wandb.init(
                project="latentscenes", name=run_name, dir=str(folder), config=config, mode="offline"
            )

    def scalars(self, step: int, values: dict[str, float]) -> None:
        if self._jsonl is None:
            return
        record = {"step": step, **{key: float(value) for key, value in values.items()}}
        self._jsonl.write(json.dumps(record) + "\n")
        self._jsonl.flush()
        if self._tensorboard is not None:
            for key, value in values.items():
                self._tensorboard.add_scalar(key, value, step)
        if self._wandb is not None:
            self._wandb.log(values, step=step)

    def close(self) -> None:
        if self._jsonl is not None:
            self._jsonl.close()
        if self._tensorboard is not None:
            self._tensorboard.close()
        if self._wandb is not None:
            self._wandb.finish()


def read_metrics(folder: Path) -> list[dict]:
    path = folder / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
