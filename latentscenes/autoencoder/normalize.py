"""Latent normalisation: maps autoencoder latents into (-1, 1), where Tri-Planes render them.

Two kinds, both `nn.Module`s whose whole state is buffers (saved as safetensors, with the
kind and its scalars in JSON):

- `TanhNormalizer` (the reference): `z_n = tanh(s z)`, inverse
  `atanh(clip(z_n, -1 + 1e-4, 1 - 1e-4)) / s`, s = 0.02 by default (tuned to the SD
  VAE's latent range; it squashes a from-scratch AE's latents into +-0.15).
- `StandardizeNormalizer`: per channel `z_n = clamp((z - mean) / (k std), -0.99, 0.99)`,
  inverse `z_n k std + mean`, with mean and std fitted on the training latents (k = 3).

Latents are `(B, c, h, w)`; statistics are per channel `c`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn

TANH_CLIP = 1e-4
STANDARDIZE_CLAMP = 0.99


class LatentNormalizer(nn.Module):
    """Base: `forward(z) = normalize(z)`; `denormalize` is its inverse on (-1, 1)."""

    kind: str = ""

    def normalize(self, latents: Tensor) -> Tensor:
        raise NotImplementedError

    def denormalize(self, normalized: Tensor) -> Tensor:
        raise NotImplementedError

    def fit(self, latents: Tensor | Iterable[Tensor], across: Callable[[Tensor], Tensor] | None = None) -> "LatentNormalizer":
        """Fit statistics on latents `(N, c, h, w)` (a tensor or an iterable of batches);
        `across` sums a tensor of sums over processes that each hold a share of the latents."""
        return self

    def forward(self, latents: Tensor) -> Tensor:
        return self.normalize(latents)

    def describe(self) -> dict:
        """JSON-safe description: kind and scalar settings (the tensors are the state dict)."""
        return {"kind": self.kind}


class TanhNormalizer(LatentNormalizer):
    kind = "tanh"

    def __init__(self, scale: float = 0.02):
        super().__init__()
        self.register_buffer("scale", torch.tensor(float(scale)))

    def normalize(self, latents: Tensor) -> Tensor:
        return torch.tanh(self.scale * latents)

    def denormalize(self, normalized: Tensor) -> Tensor:
        clipped = normalized.clamp(-1 + TANH_CLIP, 1 - TANH_CLIP)
        return torch.atanh(clipped) / self.scale

    def describe(self) -> dict:
        return {"kind": self.kind, "scale": float(self.scale)}


class StandardizeNormalizer(LatentNormalizer):
    kind = "standardize"

    def __init__(self, channels: int, k: float = 3.0):
        super().__init__()
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("std", torch.ones(channels))
        self.register_buffer("k", torch.tensor(float(k)))
        self.register_buffer("fitted", torch.tensor(False))

    @torch.no_grad()
    def fit(self, latents: Tensor | Iterable[Tensor], across: Callable[[Tensor], Tensor] | None = None) -> "StandardizeNormalizer":
        """Per-channel mean and std over every sample and position of `latents` (N, c, h, w),
        and of every other process's latents when `across` sums a tensor over processes."""
        batches = [latents] if isinstance(latents, Tensor) else latents
        count, total, total_sq = 0, 0.0, 0.0
        for batch in batches:
            if batch.ndim != 4 or batch.shape[1] != self.mean.numel():
                raise ValueError(f"latents must be (N, {self.mean.numel()}, h, w), got {tuple(batch.shape)}")
            values = batch.detach().to(torch.float64).transpose(0, 1).reshape(batch.shape[1], -1)
            count += values.shape[1]
            total = total + values.sum(dim=1)
            total_sq = total_sq + (values * values).sum(dim=1)
        if across is not None:
            sums = torch.zeros(3, self.mean.numel(), dtype=torch.float64)
            sums[0], sums[1], sums[2] = count, total, total_sq
            sums = across(sums)
            count, total, total_sq = int(sums[0, 0]), sums[1], sums[2]
        if count < 2:
            raise ValueError("fitting the latent standardisation needs at least two latent values per channel")
        mean = total / count
        var = (total_sq - count * mean * mean).clamp_min(0) / (count - 1)
        std = var.sqrt().clamp_min(1e-6)
        self.mean.copy_(mean.to(self.mean.dtype))
        self.std.copy_(std.to(self.std.dtype))
        self.fitted.fill_(True)
        return self

    def _check_fitted(self) -> None:
        if not bool(self.fitted):
            raise RuntimeError(
                "the latent standardisation is not fitted: call normalizer.fit(latents of the training images) "
                "(e.g. LatentAutoencoder.fit_normalizer) or load a saved one"
            )

    def _shape(self, tensor: Tensor, like: Tensor) -> Tensor:
        return tensor.to(like.dtype).view(1, -1, *([1] * (like.ndim - 2)))

    def normalize(self, latents: Tensor) -> Tensor:
        self._check_fitted()
        scaled = (latents - self._shape(self.mean, latents)) / (self._shape(self.std, latents) * self.k)
        return scaled.clamp(-STANDARDIZE_CLAMP, STANDARDIZE_CLAMP)

    def denormalize(self, normalized: Tensor) -> Tensor:
        self._check_fitted()
        return normalized * self._shape(self.std, normalized) * self.k + self._shape(self.mean, normalized)

    def describe(self) -> dict:
        return {"kind": self.kind, "k": float(self.k), "channels": self.mean.numel()}


def make_normalizer(kind: str, channels: int, tanh_scale: float = 0.02, k: float = 3.0) -> LatentNormalizer:
    """A fresh normaliser of `kind` ('tanh' or 'standardize') for `channels` latent channels."""
    if kind == "tanh":
        return TanhNormalizer(tanh_scale)
    if kind == "standardize":
        return StandardizeNormalizer(channels, k)
    raise ValueError(f"unknown latent normalisation {kind!r}; choose 'tanh' or 'standardize'")


def normalizer_from_description(description: dict) -> LatentNormalizer:
    """The inverse of `LatentNormalizer.describe` (the state dict is loaded separately)."""
    kind = description.get("kind")
    if kind == "tanh":
        return TanhNormalizer(description.get("scale", 0.02))
    if kind == "standardize":
        return StandardizeNormalizer(int(description["channels"]), description.get("k", 3.0))
    raise ValueError(f"unknown latent normalisation {kind!r}")
