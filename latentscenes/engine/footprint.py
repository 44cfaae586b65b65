"""Memory per scene: what one more scene costs, and what a bank of N scenes costs each.

    effective bytes per scene = per-scene parameters + their optimiser state + shared / N

Per-scene parameters are a bank's per-scene rows (micro planes, base weights and bias, or
whole planes). Their optimiser state is Adam's two moments per value plus, with sparse
gradients (RowAdam), one int64 step count per row of each per-scene tensor. Shared
parameters are everything needed to render any scene that all scenes share, stored once:
the bank's bases and the modules passed in (the MLP; for latent scenes the decoder too).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from torch import nn

from latentscenes.scenes import SceneBank

ADAM_MOMENTS = 2
STEP_COUNT_BYTES = 8  # RowAdam's int64 step count per row


@dataclass(frozen=True)
class SceneFootprint:
    """Bytes of a bank of `num_scenes` scenes and the shared parameters that render them."""

    num_scenes: int
    parameter_bytes_per_scene: int
    optimizer_bytes_per_scene: int
    shared_bytes: int

    @property
    def effective_bytes_per_scene(self) -> float:
        shared = self.shared_bytes / self.num_scenes if self.num_scenes else float("inf")
        return self.parameter_bytes_per_scene + self.optimizer_bytes_per_scene + shared

    def to_dict(self) -> dict:
        return {**asdict(self), "effective_bytes_per_scene": self.effective_bytes_per_scene}


def scene_footprint(bank: SceneBank, shared_modules: Iterable[nn.Module] = ()) -> SceneFootprint:
    """The footprint of `bank` with the shared `shared_modules` (e.g. the MLP, the decoder)."""
    rows = [getattr(bank, name) for name in bank.per_scene_names()]
    row_bytes = sum(tensor[0].numel() * tensor.element_size() for tensor in rows)
    step_counts = STEP_COUNT_BYTES * len(rows) if bank.config.sparse_grad else 0
    shared = [bank.bases] if bank.config.micro_macro else []
    shared += [param for module in shared_modules for param in module.parameters()]
    return SceneFootprint(
        num_scenes=bank.num_scenes,
        parameter_bytes_per_scene=row_bytes,
        optimizer_bytes_per_scene=ADAM_MOMENTS * row_bytes + step_counts,
        shared_bytes=sum(param.numel() * param.element_size() for param in shared),
    )
