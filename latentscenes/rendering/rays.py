"""Rays from cameras, and random pixel subsets for ray-batch training.

Conventions (`latentscenes.cameras`): cam2world is OpenCV (x right, y down, z forward);
intrinsics K are in pixels of the rendered resolution; pixel (row i, column j) has its
centre at (u, v) = (j + 0.5, i + 0.5). Pixels are numbered row-major: index = i * W + j.

A ray through pixel centre (u, v) of a camera with rotation R and centre t:

    d_cam = ((u - cx) / fx, (v - cy) / fy, 1)      (skew ignored: K[0, 1] must be 0)
    origin = t,  direction = normalise(R d_cam)

Directions are unit vectors, so sample distances `t` (near, far, depth) are Euclidean
distances from the camera centre.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from latentscenes.cameras import denormalize_intrinsics

__all__ = ["Rays", "pixel_centers", "camera_rays", "random_pixels", "gather_pixels"]


class Rays(NamedTuple):
    origins: Tensor  # (..., P, 3) camera centres, world
    directions: Tensor  # (..., P, 3) unit directions, world


def pixel_centers(height: int, width: int, *, device=None, dtype: torch.dtype = torch.float32) -> Tensor:
    """Centres (u, v) = (column + 0.5, row + 0.5) of all pixels, row-major. Returns (H*W, 2)."""
    rows = torch.arange(height, device=device, dtype=dtype) + 0.5
    cols = torch.arange(width, device=device, dtype=dtype) + 0.5
    v, u = torch.meshgrid(rows, cols, indexing="ij")
    return torch.stack([u.reshape(-1), v.reshape(-1)], dim=-1)


def camera_rays(
    cam2world: Tensor,  # (..., 4, 4) OpenCV
    intrinsics: Tensor,  # (..., 3, 3) pixels (or normalised, see `normalized`)
    height: int,
    width: int,
    pixels: Tensor | None = None,  # (..., P) row-major pixel indices in [0, H*W), or None for all
    *,
    normalized: bool = False,
) -> Rays:
    """Unit rays through pixel centres of an H x W image.

    Returns `Rays` with origins and directions of shape (..., P, 3), where P = H*W
    (row-major order, reshape to (..., H, W, 3)) when `pixels` is None. With
    `normalized=True` the intrinsics are normalised (row 0 / W, row 1 / H) and are scaled
    to this H x W first, so one camera renders at any resolution.
    """
    if normalized:
        intrinsics = denormalize_intrinsics(intrinsics, width, height)
    batch = torch.broadcast_shapes(cam2world.shape[:-2], intrinsics.shape[:-2])
    dtype, device = cam2world.dtype, cam2world.device
    if pixels is None:
        uv = pixel_centers(height, width, device=device, dtype=dtype).expand(*batch, height * width, 2)
    else:
        pixels = pixels.to(device)
        rows = torch.div(pixels, width, rounding_mode="floor")
        cols = pixels - rows * width
        uv = torch.stack([cols.to(dtype) + 0.5, rows.to(dtype) + 0.5], dim=-1)
    fx = intrinsics[..., 0, 0, None]
    fy = intrinsics[..., 1, 1, None]
    cx = intrinsics[..., 0, 2, None]
    cy = intrinsics[..., 1, 2, None]
    x = (uv[..., 0] - cx) / fx
    y = (uv[..., 1] - cy) / fy
    d_cam = torch.stack([x, y, torch.ones_like(x)], dim=-1)  # (..., P, 3)
    rotation = cam2world[..., :3, :3]
    directions = d_cam @ rotation.transpose(-1, -2)  # row-vector form of R d
    directions = directions / torch.linalg.vector_norm(directions, dim=-1, keepdim=True)
    origins = cam2world[..., None, :3, 3].expand_as(directions)
    return Rays(origins, directions)


def random_pixels(
    batch_shape: tuple[int, ...],
    height: int,
    width: int,
    count: int,
    *,
    generator: torch.Generator | None = None,
    device=None,
) -> Tensor:
    """`count` distinct random row-major pixel indices per view. Returns (*batch_shape, count).

    Sampling is without replacement within each view (a random permutation's prefix).
    """
    total = height * width
    if not 0 < count <= total:
        raise ValueError(f"count must be in [1, {total}] for a {height}x{width} image, got {count}")
    keys = torch.rand(*batch_shape, total, generator=generator, device=device)
    return keys.argsort(dim=-1)[..., :count]


def gather_pixels(images: Tensor, pixels: Tensor) -> Tensor:
    """Values of images (..., C, H, W) at row-major pixel indices (..., P). Returns (..., P, C)."""
    flat = images.flatten(-2)  # (..., C, H*W)
    index = pixels.unsqueeze(-2).expand(*flat.shape[:-1], pixels.shape[-1])
    return torch.gather(flat, -1, index).transpose(-1, -2)
