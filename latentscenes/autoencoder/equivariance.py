"""Equivariance of the latent space to small image warps: what a Tri-Plane renderer needs.

A renderer produces latents by *resampling* a continuous field: a view moved by a fraction
of a latent pixel, turned or zoomed gives a bilinearly resampled latent image, never the
encoder's latent of that view. A decoder that only ever saw `E(x)` decodes such latents
poorly (the shipped autoencoder's figures are in `docs/log/benchmarks.md`). The loss here trains the
autoencoder on warped latents, as EQ-VAE (Kouzelis et al., 2025) does for generative models:

    eq = |D(T(z)) - T(x)|^2     z ~ q(z | x), T a random similarity warp

T is a small rotation, zoom and translation applied with the same normalised coordinates to
the image (H x W) and its latent (H/f x W/f), so the two stay aligned. Pixels whose source
falls outside the image, or within half a latent pixel of its edge (where a latent and its
image extend differently), are left out of the loss.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def random_similarity(
    batch: int,
    max_rotation: float = 10.0,
    max_zoom: float = 0.15,
    max_shift: float = 0.05,
    generator: torch.Generator | None = None,
) -> Tensor:
    """`(B, 2, 3)` affine maps in `F.affine_grid`'s normalised coordinates: rotation by
    U(-max_rotation, max_rotation) degrees, zoom by exp(U(-log(1+z), log(1+z))), translation by
    U(-max_shift, max_shift) of the image's half-width per axis."""
    uniform = lambda: torch.rand(batch, generator=generator) * 2 - 1  # noqa: E731
    angle = uniform() * math.radians(max_rotation)
    scale = torch.exp(uniform() * math.log1p(max_zoom))
    shift = torch.stack([uniform(), uniform()], dim=1) * max_shift * 2
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    return torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)


def probe_warps(width: int) -> Tensor:
    """`(3, 2, 3)`: the fixed warps of the `warped_psnr` diagnostic: a one-pixel shift (a quarter
    of a latent pixel at 4x), a 7% zoom and a 5-degree turn (`width` in image pixels)."""
    angle = math.radians(5.0)
    return torch.tensor(
        [
            [[1.0, 0.0, 2.0 / width], [0.0, 1.0, 0.0]],
            [[0.93, 0.0, 0.0], [0.0, 0.93, 0.0]],
            [[math.cos(angle), -math.sin(angle), 0.0], [math.sin(angle), math.cos(angle), 0.0]],
        ]
    )


def warped_decoding_error(decode, latents: Tensor, images: Tensor, theta: Tensor) -> Tensor:
    """Per image `(B,)`: `mean |decode(T z) - T x|^2` over the pixels counted by
    `equivariance_loss` (one warp `theta (2, 3)` for the whole batch)."""
    decoded, target, inside = _warped_pair(decode, latents, images, theta.expand(images.shape[0], 2, 3))
    error = ((decoded.clamp(-1, 1) - target).square() * inside).sum(dim=(1, 2, 3))
    return error / (inside.sum(dim=(1, 2, 3)) * images.shape[1]).clamp(min=1)


def warp(images: Tensor, theta: Tensor) -> Tensor:
    """`images (B, C, H, W)` resampled bilinearly at `theta (B, 2, 3)` (output pixel -> source
    point, normalised coordinates, `align_corners=False`); points outside read the edge."""
    grid = F.affine_grid(theta.to(images), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def equivariance_loss(decode, latents: Tensor, images: Tensor, theta: Tensor) -> Tensor:
    """`mean |decode(T z) - T x|^2` over the pixels whose source lies inside the image, at
    least half a latent pixel from its edge.

    decode: latents (B, c, h, w) -> images (B, 3, H, W); latents (B, c, h, w); images
    (B, 3, H, W) in [-1, 1]; theta (B, 2, 3) from `random_similarity`."""
    decoded, target, inside = _warped_pair(decode, latents, images, theta)
    error = (decoded - target).square() * inside
    return error.sum() / (inside.sum() * images.shape[1]).clamp(min=1)


def _warped_pair(decode, latents: Tensor, images: Tensor, theta: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """`decode(T z)`, `T x` and the mask `(B, 1, H, W)` of the pixels that count."""
    decoded = decode(warp(latents, theta))
    target = warp(images, theta)
    source = F.affine_grid(theta.to(images), list(images.shape), align_corners=False)  # (B, H, W, 2): x, y
    half_latent_pixel = torch.tensor([1 / latents.shape[-1], 1 / latents.shape[-2]], dtype=images.dtype)
    inside = (source.abs() <= 1 - half_latent_pixel.to(images.device)).all(dim=-1)[:, None]
    return decoded, target, inside
