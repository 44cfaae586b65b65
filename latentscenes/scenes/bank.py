"""The scene bank: N scenes' Tri-Planes as one set of parameters, gathered per batch.

Plain mode: one parameter `planes` (N, 3, C, R, R).

Micro-macro mode (the method's shared planes): scene s's planes are

    T_s = concat_channels(micro_s, sum_b W[s, b] * B_b + bias_s)

with per-scene `micro` (N, 3, Cm, R, R), `weights` W (N, M) and `bias` (N,), and M
shared `bases` (M, 3, Cb, R, R); C = Cm + Cb (reference: 10 + 22, M = 50, W ~ N(0, 1),
bias 0).

Micro planes may be stored smaller than the planes (`micro_resolution` r < R): they are
then upsampled bilinearly to R x R before the concatenation, so a scene stores 3 Cm r^2
values and renders as a full-resolution Tri-Plane.

Ultra-lightweight mode (Fused-Planes' ULW scenes): micro-macro with Cm = 0, so a scene is
only its M weights and its bias (M + 1 values instead of 3 Cm R^2 + M + 1); `micro` is
then an empty (N, 3, 0, R, R) tensor that holds no values and is not trained.

`bank(scene_indices)` reads only the selected scenes' rows (index_select, or an
embedding lookup with sparse gradients when `config.sparse_grad`), never the whole bank.
`parameter_groups()` names the parameters by the module groups a training phase gives
learning rates to (`planes`, `weights`, `bases`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latentscenes.scenes.config import TriPlaneConfig

__all__ = ["SceneBank"]


class _GatherRowsSparse(torch.autograd.Function):
    """table.index_select(0, index) whose gradient is a sparse COO tensor (sparse dim 0)
    holding only the gathered rows: the shape torch.optim.SparseAdam expects."""

    @staticmethod
    def forward(ctx, table: Tensor, index: Tensor) -> Tensor:
        ctx.save_for_backward(index)
        ctx.table_shape = table.shape
        return table.index_select(0, index)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (index,) = ctx.saved_tensors
        return torch.sparse_coo_tensor(index[None], grad.contiguous(), ctx.table_shape, check_invariants=False), None


class _MixBases(torch.autograd.Function):
    """bias[:, None] + weights @ bases: (B,), (B, M), (M, D) -> (B, D), with a faster backward.

    Autograd's own backward computes the bases' gradient as weights.T @ grad (a K = B
    matrix product into a fresh (M, D) tensor); accumulating the same product into a zeroed
    tensor is faster on CPUs (docs/log/benchmarks.md), and the product dominates a latent
    step's shared-plane cost."""

    @staticmethod
    def forward(ctx, bias: Tensor, weights: Tensor, bases: Tensor) -> Tensor:
        ctx.save_for_backward(weights, bases)
        return torch.addmm(bias[:, None], weights, bases)

    @staticmethod
    def backward(ctx, grad: Tensor):
        weights, bases = ctx.saved_tensors
        need_bias, need_weights, need_bases = ctx.needs_input_grad
        grad_bias = grad.sum(1) if need_bias else None
        grad_weights = grad @ bases.t() if need_weights else None
        grad_bases = torch.zeros_like(bases).addmm_(weights.t(), grad) if need_bases else None
        return grad_bias, grad_weights, grad_bases


def upsample_planes(planes: Tensor, side: int) -> Tensor:
    """planes (B, 3, C, r, r) -> (B, 3, C, side, side), bilinear (texel centres aligned, as
    the Tri-Plane lookup samples them); unchanged when r == side or C == 0."""
    b, p, c, r, _ = planes.shape
    if r == side or c == 0:
        return planes
    resized = F.interpolate(planes.reshape(b * p, c, r, r), size=(side, side), mode="bilinear", align_corners=False)
    return resized.view(b, p, c, side, side)


def _gather(table: Tensor, index: Tensor, sparse: bool) -> Tensor:
    """Rows `index` (B,) of table (N, ...) -> (B, ...), touching only those rows."""
    if sparse:
        return _GatherRowsSparse.apply(table, index)
    return table.index_select(0, index)


class SceneBank(nn.Module):
    """N scenes' Tri-Planes. forward(scene_indices (B,) long) -> planes (B, 3, C, R, R)."""

    def __init__(self, num_scenes: int, config: TriPlaneConfig | None = None, generator: torch.Generator | None = None):
        super().__init__()
        if num_scenes < 0:
            raise ValueError(f"num_scenes must be >= 0, got {num_scenes}")
        self.config = config = config or TriPlaneConfig()
        r = config.resolution
        if config.micro_macro:
            self.micro = nn.Parameter(self._init_micro(num_scenes, generator), requires_grad=not config.ultralight)
            self.weights = nn.Parameter(self._init_weights(num_scenes, generator))
            self.bias = nn.Parameter(torch.zeros(num_scenes))
            std = config.init_std / math.sqrt(config.num_bases)
            self.bases = nn.Parameter(
                torch.randn(config.num_bases, 3, config.macro_channels, r, r, generator=generator) * std
            )
        else:
            self.planes = nn.Parameter(self._init_micro(num_scenes, generator))

    # ---- initialisation -------------------------------------------------------------
    def _init_micro(self, n: int, generator: torch.Generator | None) -> Tensor:
        c = self.config.micro_channels if self.config.micro_macro else self.config.channels
        r = self.config.micro_side
        return torch.randn(n, 3, c, r, r, generator=generator) * self.config.init_std

    def _init_weights(self, n: int, generator: torch.Generator | None) -> Tensor:
        return torch.randn(n, self.config.num_bases, generator=generator) * self.config.weight_std

    # ---- queries -----------------------------------------------------------------------
    @property
    def num_scenes(self) -> int:
        return (self.micro if self.config.micro_macro else self.planes).shape[0]

    @property
    def channels(self) -> int:
        return self.config.channels

    def plane_parameters(self) -> list[nn.Parameter]:
        """Per-scene planes: `planes` (plain) or `micro` (micro-macro; none when ultra-lightweight)."""
        if self.config.ultralight:
            return []
        return [self.micro] if self.config.micro_macro else [self.planes]

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """The bank's parameters by training module group: `planes` (per-scene planes),
        `weights` (per-scene base weights and biases) and `bases` (shared)."""
        if not self.config.micro_macro:
            return {"planes": self.plane_parameters(), "weights": [], "bases": []}
        return {"planes": self.plane_parameters(), "weights": [self.weights, self.bias], "bases": [self.bases]}

    def per_scene_names(self) -> tuple[str, ...]:
        """Names of the tensors whose row i belongs to scene i (and holds values)."""
        if self.config.ultralight:
            return ("weights", "bias")
        return ("micro", "weights", "bias") if self.config.micro_macro else ("planes",)

    def sparse_parameters(self) -> list[nn.Parameter]:
        """The per-scene tensors when `config.sparse_grad` (their gradients are sparse), else []."""
        if not self.config.sparse_grad:
            return []
        return [getattr(self, name) for name in self.per_scene_names()]

    # ---- forward -----------------------------------------------------------------------
    def forward(self, scene_indices: Tensor) -> Tensor:
        """Planes of the selected scenes. scene_indices: (B,) long -> (B, 3, C, R, R)."""
        if scene_indices.dim() != 1:
            raise ValueError(f"scene_indices must be 1-D, got shape {tuple(scene_indices.shape)}")
        index = scene_indices.to(device=self._anchor().device, dtype=torch.long)
        sparse = self.config.sparse_grad
        if not self.config.micro_macro:
            return _gather(self.planes, index, sparse)
        return self.compose(_gather(self.micro, index, sparse), _gather(self.weights, index, sparse), _gather(self.bias, index, sparse))

    def compose(self, micro: Tensor, weights: Tensor, bias: Tensor) -> Tensor:
        """Planes (B, 3, C, R, R) of scenes given by their per-scene tensors (micro-macro):
        micro (B, 3, Cm, r, r), weights (B, M), bias (B,), mixed with this bank's bases (as
        `forward` does with the bank's own rows; a learned start passes predicted ones)."""
        micro = upsample_planes(micro, self.config.resolution)  # (B, 3, Cm, R, R)
        bases = self.bases
        macro = _MixBases.apply(bias, weights, bases.view(bases.shape[0], -1))  # (B, 3*Cb*R*R)
        macro = macro.view(micro.shape[0], *bases.shape[1:])
        return torch.cat([micro, macro], dim=2)

    def _anchor(self) -> Tensor:
        return self.micro if self.config.micro_macro else self.planes
