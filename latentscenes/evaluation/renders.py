"""Pictures of what was learned: held-out views next to their ground truth, depth maps and
rendered latent channels as images."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from latentscenes.data import Scene
from latentscenes.io import atomic_path

RenderImages = Callable[[int, Scene, torch.Tensor], torch.Tensor]
"""(bank row, scene, views (V,)) -> images (V, 3, H, W) in [-1, 1]."""


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(..., 3, H, W) in [-1, 1] -> uint8 (..., H, W, 3)."""
    scaled = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return scaled.movedim(-3, -1).cpu().numpy()


def depth_to_uint8(depth: torch.Tensor, opacity: torch.Tensor, near: float, far: float) -> np.ndarray:
    """Depth maps (..., h, w) as grey uint8 (..., h, w, 3): depth `near` white, `far` black
    (clamped between), and black where the ray hits nothing (opacity < 0.5, where the
    expected depth means little)."""
    shade = ((far - depth.float()) / (far - near)).clamp(0, 1) * (opacity.float() >= 0.5)
    grey = (shade * 255).round().to(torch.uint8).cpu().numpy()
    return np.repeat(grey[..., None], 3, axis=-1)


def latent_channels_grid(latents: torch.Tensor, scale: int = 1) -> np.ndarray:
    """Normalised latents (..., c, h, w) in [-1, 1] as a grey tile per channel, row-major on a
    grid of ceil(sqrt(c)) columns, each tile enlarged `scale` times (nearest): uint8
    (..., rows h s, cols w s, 3), -1 black and +1 white, empty tiles mid-grey."""
    *lead, c, h, w = latents.shape
    cols = math.ceil(math.sqrt(c))
    rows = math.ceil(c / cols)
    grey = ((latents.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()
    padded = torch.full((*lead, rows * cols, h, w), 128, dtype=torch.uint8)
    padded[..., :c, :, :] = grey
    tiles = padded.reshape(*lead, rows, cols, h, w).movedim(-3, -2).reshape(*lead, rows * h, cols * w)
    tiles = tiles.repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1)
    return np.repeat(tiles.numpy()[..., None], 3, axis=-1)


def comparison_grid(prediction: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    """Predictions above targets: (V, 3, H, W) each -> uint8 (2H, V*W, 3)."""
    rows = [np.concatenate(list(to_uint8(images)), axis=1) for images in (prediction, target)]
    return np.concatenate(rows, axis=0)


def save_png(path: Path, image: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")


def comparison_grids(
    render: RenderImages, scenes: list[tuple[int, Scene]], max_views: int = 4
) -> list[tuple[str, np.ndarray]]:
    """(scene id, grid) of each (bank row, scene) with held-out views: `max_views` of them
    rendered (top) and true (bottom)."""
    grids = []
    for row, scene in scenes:
        views = scene.split("test")[:max_views]
        if len(views):
            grids.append((scene.scene_id, comparison_grid(render(row, scene, views), scene.model_images(views))))
    return grids


def write_comparisons(folder: Path, grids: list[tuple[str, np.ndarray]]) -> list[Path]:
    paths = [folder / f"{scene_id}-test.png" for scene_id, _ in grids]
    for path, (_, grid) in zip(paths, grids):
        save_png(path, grid)
    return paths
