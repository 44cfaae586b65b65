"""Whole views of one learned scene from any cameras: RGB images, depth and, for scenes
learned in an autoencoder's latent space, the rendered latents and their decoding.

This is the one place a scene's planes become pictures outside training: a run's own
renders (`render_images`), `latentscenes render` and the standalone export reader all
call `render_scene_views`, so an exported scene renders exactly as its run does.

RGB scenes composite over white and map the colour head's [0, 1] to [-1, 1]. Latent scenes
render at the latent resolution (H/f, W/f) with the intrinsics scaled by 1/f, composite
over the normalised latent of a white image (`LatentDecoding.background`, in [-1, 1]) and
decode the normalised latents with `LatentDecoding.decode`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from latentscenes.cameras import scale_intrinsics
from latentscenes.rendering.config import RenderConfig
from latentscenes.rendering.decoder import TriPlaneDecoder
from latentscenes.rendering.renderer import render_views

__all__ = ["LatentDecoding", "SceneViews", "render_scene_views", "render_path", "WHITE"]

WHITE = 1.0
"""The RGB background, in the colour head's [0, 1] range."""


@dataclass
class LatentDecoding:
    """What turns a latent scene's renders into images.

    background: (c,) the normalised latent of a white image, in [-1, 1], the colour the
    scene was learned over; factor: image pixels per latent pixel (f); decode: normalised
    latents (V, c, h, w) -> images (V, 3, f h, f w), about [-1, 1]."""

    background: Tensor
    factor: int
    decode: Callable[[Tensor], Tensor]


@dataclass
class SceneViews:
    """images (V, 3, H, W) in [-1, 1]; depth (V, h, w), the expected distance along each
    (unit) ray at the render resolution (h, w) = (H, W) for RGB scenes and (H/f, W/f) for
    latent ones; opacity (V, h, w); latents (V, c, h, w) normalised, in [-1, 1], or None."""

    images: Tensor
    depth: Tensor
    opacity: Tensor
    latents: Tensor | None = None


@torch.no_grad()
def render_scene_views(
    planes: Tensor,
    mlp: TriPlaneDecoder,
    config: RenderConfig,
    cam2world: Tensor,
    intrinsics: Tensor,
    height: int,
    width: int,
    latent: LatentDecoding | None = None,
) -> SceneViews:
    """Render V whole views of one scene with deterministic samples.

    planes: (3, C, R, R) or (1, 3, C, R, R); cam2world: (V, 4, 4) OpenCV; intrinsics:
    (V, 3, 3) in pixels of the H x W images. `latent` None: an RGB scene; else a latent
    scene decoded by `latent.decode`.
    """
    planes = planes if planes.dim() == 5 else planes[None]
    config = replace(config, deterministic=True)
    if latent is None:
        out = render_views(planes, mlp, cam2world[None], intrinsics[None], height, width, config, WHITE)
        return SceneViews(images=out.image[0] * 2 - 1, depth=out.depth[0], opacity=out.opacity[0])
    f = latent.factor
    if height % f or width % f:
        raise ValueError(f"image size {height}x{width} must be divisible by the latent downsampling factor {f}")
    h, w = height // f, width // f
    background = ((latent.background + 1) / 2).view(-1, 1, 1)
    out = render_views(
        planes, mlp, cam2world[None], scale_intrinsics(intrinsics, w / width, h / height)[None], h, w, config, background
    )
    latents = out.image[0] * 2 - 1
    return SceneViews(
        images=latent.decode(latents).clamp(-1, 1), depth=out.depth[0], opacity=out.opacity[0], latents=latents
    )


def render_path(
    render: Callable[[Tensor, Tensor], SceneViews], cam2world: Tensor, intrinsics: Tensor, views_per_call: int = 8
) -> SceneViews:
    """Render a camera path (F frames) `views_per_call` frames at a time, which bounds the
    memory of decoding latent frames. `render(cam2world (V, 4, 4), intrinsics (V, 3, 3))`
    renders V views (e.g. `render_scene_views` with everything else fixed); the frames'
    outputs are concatenated in order."""
    parts = [
        render(cam2world[i : i + views_per_call], intrinsics[i : i + views_per_call])
        for i in range(0, cam2world.shape[0], views_per_call)
    ]
    latents = None if parts[0].latents is None else torch.cat([p.latents for p in parts])
    return SceneViews(
        images=torch.cat([p.images for p in parts]),
        depth=torch.cat([p.depth for p in parts]),
        opacity=torch.cat([p.opacity for p in parts]),
        latents=latents,
    )
