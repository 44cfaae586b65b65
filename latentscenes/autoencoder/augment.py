"""Augmentation for autoencoder training: hue rotation, saturation scaling, random crops.

Both are linear maps of RGB that fix the grey axis, so white stays exactly white (the
background of the cars) and greys stay grey; only values pushed out of gamut are clipped
back to [-1, 1]. Images are `(B, 3, H, W)` in [-1, 1]; since the maps fix grey, applying
them in [-1, 1] equals applying them in [0, 1].

- Hue: rotation by angle a about the unit grey axis u = (1, 1, 1)/sqrt(3) (Rodrigues):
  `R = cos(a) I + sin(a) [u]x + (1 - cos(a)) u u^T`. A third of a turn maps red to green.
- Saturation: `S = P + s (I - P)` with `P = u u^T` (the channel mean): s = 0 gives grey,
  s = 1 the identity.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def hue_rotation_matrix(turns: Tensor) -> Tensor:
    """`(B, 3, 3)` rotations about the grey axis by `turns (B,)` full turns."""
    angle = turns * (2 * math.pi)
    cos, sin = torch.cos(angle)[:, None, None], torch.sin(angle)[:, None, None]
    eye = torch.eye(3, dtype=turns.dtype, device=turns.device)
    c = 1 / math.sqrt(3)
    cross = c * torch.tensor([[0, -1, 1], [1, 0, -1], [-1, 1, 0]], dtype=turns.dtype, device=turns.device)
    outer = torch.full((3, 3), 1 / 3, dtype=turns.dtype, device=turns.device)
    return cos * eye + sin * cross + (1 - cos) * outer


def saturation_matrix(factor: Tensor) -> Tensor:
    """`(B, 3, 3)` maps `x -> mean(x) + factor (x - mean(x))` for `factor (B,)`."""
    mean = torch.full((3, 3), 1 / 3, dtype=factor.dtype, device=factor.device)
    eye = torch.eye(3, dtype=factor.dtype, device=factor.device)
    return mean + factor[:, None, None] * (eye - mean)


def apply_colour_matrix(images: Tensor, matrix: Tensor) -> Tensor:
    """`matrix (B, 3, 3)` applied to every pixel of `images (B, 3, H, W)`, clipped to [-1, 1]."""
    return torch.einsum("bij,bjhw->bihw", matrix.to(images.dtype), images).clamp(-1, 1)


def augment_colours(
    images: Tensor,
    generator: torch.Generator | None = None,
    hue: float = 0.5,
    saturation: float = 0.5,
) -> Tensor:
    """Randomly recoloured `images (B, 3, H, W)` in [-1, 1]; white and greys unchanged.

    Per image: hue rotated by U(-hue, hue) turns (0.5 = any hue), saturation scaled by
    U(1 - saturation, 1 + saturation). Random numbers come from `generator` (on the CPU).
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (B, 3, H, W), got {tuple(images.shape)}")
    batch = images.shape[0]
    turns = (torch.rand(batch, generator=generator, dtype=torch.float64) * 2 - 1) * hue
    factor = 1 + (torch.rand(batch, generator=generator, dtype=torch.float64) * 2 - 1) * saturation
    matrix = saturation_matrix(factor) @ hue_rotation_matrix(turns)
    return apply_colour_matrix(images, matrix.to(images.device))


def random_crops(images: Tensor, size: int, generator: torch.Generator | None = None) -> Tensor:
    """One random `size x size` crop per image of `images (B, C, H, W)` -> `(B, C, size, size)`.

    Offsets are uniform over the valid range (drawn from `generator`, on the CPU); the
    convolutional autoencoder sees crops while training and whole images afterwards.
    """
    batch, channels, height, width = images.shape
    if not 0 < size <= min(height, width):
        raise ValueError(f"crop size must be in [1, {min(height, width)}], got {size}")
    top = torch.randint(height - size + 1, (batch,), generator=generator)
    left = torch.randint(width - size + 1, (batch,), generator=generator)
    rows = (top[:, None] + torch.arange(size)).to(images.device)  # (B, size)
    cols = (left[:, None] + torch.arange(size)).to(images.device)
    index = torch.arange(batch, device=images.device)[:, None, None]
    return images.permute(0, 2, 3, 1)[index, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
