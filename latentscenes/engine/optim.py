"""A phase's optimiser: Adam for dense gradients, RowAdam for the scene bank's sparse rows.

With thousands of scenes, dense Adam would read and write every scene's planes and both
moment buffers at every step although a batch touches a few scenes, and its momentum
would keep moving scenes that are not in the batch. Parameters whose gradients are
sparse (`SceneBank` with `sparse_grad`) go to `RowAdam` instead, which updates only the
rows present in the gradient ("lazy Adam", as `torch.optim.SparseAdam`) and counts Adam's
steps per row, so a scene's updates do not depend on when it first entered a batch
(`latentscenes.engine.row_adam`); everything else (MLP,
bases, autoencoder) stays with `torch.optim.Adam`, fused (one kernel over all tensors,
about 3x faster on the base planes: docs/log/benchmarks.md).
Both share one list of parameter groups, so learning-rate schedules see a single optimiser.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from latentscenes.engine.checkpoint import optimizer_from_flat, optimizer_to_flat
from latentscenes.engine.row_adam import RowAdam
from latentscenes.errors import CheckpointError

DENSE, SPARSE = "optim", "optim_sparse"


class PhaseOptimizer:
    """Adam over the dense parameters of `groups`, RowAdam over those in `sparse`.

    `groups` are torch parameter groups (`{"params": [...], "lr": ..., "name": ...}`); a
    group that holds both kinds is split in two with the same lr and name.
    """

    def __init__(self, groups: list[dict[str, Any]], sparse: list[nn.Parameter]):
        sparse_ids = {id(p) for p in sparse}
        dense_groups, sparse_groups = [], []
        for group in groups:
            params = list(group["params"])
            dense = [p for p in params if id(p) not in sparse_ids]
            rows = [p for p in params if id(p) in sparse_ids]
            if dense:
                dense_groups.append({**group, "params": dense})
            if rows:
                sparse_groups.append({**group, "params": rows})
        self.parts: dict[str, torch.optim.Optimizer] = {}
        if dense_groups:
            self.parts[DENSE] = torch.optim.Adam(dense_groups, fused=True)
        if sparse_groups:
            self.parts[SPARSE] = RowAdam(sparse_groups)

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return [group for part in self.parts.values() for group in part.param_groups]

    def zero_grad(self) -> None:
        for part in self.parts.values():
            part.zero_grad(set_to_none=True)

    def step(self) -> None:
        for part in self.parts.values():
            part.step()

    def to_flat(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Tensors (for safetensors) and JSON metadata of every part's state."""
        tensors, meta = {}, {}
        for prefix, part in self.parts.items():
            part_tensors, meta[prefix] = optimizer_to_flat(part, prefix)
            tensors.update(part_tensors)
        return tensors, meta

    def load_flat(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        """Restore what `to_flat` wrote; parts must match (same dense/sparse split)."""
        if set(meta) != set(self.parts):
            raise CheckpointError(
                f"checkpoint optimiser parts {sorted(meta)} do not match this run's {sorted(self.parts)} "
                "(was planes.sparse_grad changed?)"
            )
        for prefix, part in self.parts.items():
            optimizer_from_flat(part, tensors, meta[prefix], prefix)
        for param, state in self.parts[SPARSE].state.items() if SPARSE in self.parts else ():
            if state["step"].shape != param.shape[:1]:
                raise CheckpointError(
                    f"checkpoint optimiser '{SPARSE}' counts steps per tensor (torch.optim.SparseAdam), "
                    "not per row: start the phase again rather than resume it"
                )
