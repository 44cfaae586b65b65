"""One entry point for rendering B scenes x many rays: `render_rays` (any field, such as
`TriPlaneField`, Tri-Planes + MLP), `render_views` (whole H x W images of Tri-Planes from cameras).

The pass is EG3D's: `samples` stratified distances in [near, far] per ray; the field is
evaluated there (with gradients); the coarse weights, without gradients, place
`importance_samples` more by inverse-CDF sampling; the field is evaluated at those; the
union of both sets, sorted by distance, is composited (`latentscenes.rendering.volume`).
The coarse evaluations are reused rather than recomputed: the result equals
re-evaluating the field at the sorted union (the tests' slow twin does exactly that and
compares both, forward and backward).

Colours live in the colour head's range ([0, 1] up to the MipNeRF clamp) and are
composited over `background` in that same range; mapping to [-1, 1] (`2 x - 1`) is the
caller's business.

A field is any callable evaluated at the points origins + t * directions:

    field(origins, directions, t) -> (density, colour)
    origins, directions: (B, R, 3) (unit directions)   t: (B, R, S) distances
    density: (B, R, S) >= 0                            colour: (B, R, S, C_out)

`points_along_rays` gives the (B, R, S, 3) points for fields that want them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from latentscenes.rendering.config import RenderConfig
from latentscenes.rendering.decoder import TriPlaneDecoder
from latentscenes.rendering.rays import camera_rays
from latentscenes.rendering.samplers import (
    importance_samples,
    sample_intervals,
    stratified_samples,
)
from latentscenes.rendering.triplane import TriPlaneLookup
from latentscenes.rendering.volume import (
    accumulate,
    composite_background,
    expected_depth,
    render_weights,
)

__all__ = [
    "Field",
    "RenderOutput",
    "TriPlaneField",
    "points_along_rays",
    "render_rays",
    "render",
    "render_views",
]

Field = Callable[[Tensor, Tensor, Tensor], tuple[Tensor, Tensor]]


@dataclass
class RenderOutput:
    """What a render returns. For rays (B, *ray_shape, 3): image (B, *ray_shape, C_out),
    depth (B, *ray_shape), opacity (B, *ray_shape). `render_views` returns images as
    (B, V, C_out, H, W) and depth, opacity as (B, V, H, W)."""

    image: Tensor
    depth: Tensor
    opacity: Tensor


class TriPlaneField:
    """The Tri-Plane field of B scenes: Tri-Plane lookup then the shared decoder (a `Field`)."""

    def __init__(self, planes: Tensor, decoder: TriPlaneDecoder, config: RenderConfig):
        """planes: (B, 3, C, R, R); `config` gives the box, the feature aggregation and the sampler."""
        self.lookup = TriPlaneLookup(planes, config.box, config.aggregate, config.sampler)
        self.decoder = decoder

    def __call__(self, origins: Tensor, directions: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        return self.decoder(self.lookup.rays(origins, directions, t), directions)


def points_along_rays(origins: Tensor, directions: Tensor, t: Tensor) -> Tensor:
    """origins, directions: (B, R, 3); t: (B, R, S) -> points (B, R, S, 3) = o + t d."""
    return torch.addcmul(origins[:, :, None, :], t[..., None], directions[:, :, None, :])


def _flatten_rays(origins: Tensor, directions: Tensor) -> tuple[Tensor, Tensor, tuple[int, ...]]:
    if origins.shape != directions.shape or origins.dim() < 3 or origins.shape[-1] != 3:
        raise ValueError(
            "origins and directions must both have shape (B, ..., 3), got "
            f"{tuple(origins.shape)} and {tuple(directions.shape)}"
        )
    b = origins.shape[0]
    return origins.reshape(b, -1, 3), directions.reshape(b, -1, 3), tuple(origins.shape[1:-1])


def render_rays(
    field: Field,
    origins: Tensor,
    directions: Tensor,
    config: RenderConfig,
    background: Tensor | float = 0.0,
    generator: torch.Generator | None = None,
) -> RenderOutput:
    """Render rays of B scenes through `field` (protocol in the module docstring).

    origins, directions: (B, ..., 3), unit directions, scene b's rays in row b.
    background: broadcastable to the image (B, ..., C_out): a float, a (C_out,) colour, or
    per-ray values such as `gather_pixels` of a background image.
    Returns `RenderOutput` with image (B, ..., C_out), depth and opacity (B, ...).
    """
    o, d, ray_shape = _flatten_rays(origins, directions)
    b, r, _ = o.shape
    t = stratified_samples(
        (b, r), config.samples, config.near, config.far,
        deterministic=config.deterministic, generator=generator, device=o.device, dtype=o.dtype,
    )
    density, colour = field(o, d, t)
    if config.importance_samples > 0:
        with torch.no_grad():
            starts, ends = sample_intervals(t, config.near, config.far)
            weights = render_weights(density.detach(), starts, ends)
            t_fine = importance_samples(
                starts, ends, weights, config.importance_samples, padding=config.importance_padding,
                deterministic=config.deterministic, generator=generator,
            )
        density_fine, colour_fine = field(o, d, t_fine)
        t, order = torch.sort(torch.cat([t, t_fine], dim=-1), dim=-1)
        density = torch.gather(torch.cat([density, density_fine], dim=-1), -1, order)
        colour = torch.cat([colour, colour_fine], dim=-2)
        colour = torch.gather(colour, -2, order[..., None].expand(-1, -1, -1, colour.shape[-1]))
    starts, ends = sample_intervals(t, config.near, config.far)
    weights = render_weights(density, starts, ends)  # (B, R, S)
    opacity = weights.sum(dim=-1)
    image = accumulate(weights, colour)  # (B, R, C_out)
    depth = expected_depth(weights, t, opacity)
    c_out = image.shape[-1]
    image = composite_background(image.reshape(b, *ray_shape, c_out), opacity.reshape(b, *ray_shape), background)
    return RenderOutput(image=image, depth=depth.reshape(b, *ray_shape), opacity=opacity.reshape(b, *ray_shape))


def render_views(
    planes: Tensor,
    decoder: TriPlaneDecoder,
    cam2world: Tensor,
    intrinsics: Tensor,
    height: int,
    width: int,
    config: RenderConfig,
    background: Tensor | float = 0.0,
    generator: torch.Generator | None = None,
    *,
    normalized: bool = False,
) -> RenderOutput:
    """Render whole H x W images of V views of each of B scenes.

    planes: (B, 3, C, R, R); cam2world: (B, V, 4, 4) OpenCV; intrinsics: (B, V, 3, 3) in
    pixels of H x W (or normalised with `normalized=True`). background: a float, a (C_out,)
    colour, or anything broadcastable to (B, V, C_out, H, W) such as a (C_out, H, W) image.
    Returns image (B, V, C_out, H, W), depth and opacity (B, V, H, W).

    Rays go through the renderer `config.chunk_rays` at a time (over all B scenes), which
    bounds memory under `torch.no_grad()` (evaluation); with gradients every chunk's
    activations are kept for the backward pass anyway.
    """
    b, v = cam2world.shape[:2]
    origins, directions = camera_rays(cam2world, intrinsics, height, width, normalized=normalized)
    origins = origins.reshape(b, v * height * width, 3)
    directions = directions.reshape(b, v * height * width, 3)
    field = TriPlaneField(planes, decoder, config)
    step = max(1, config.chunk_rays // b)
    parts = [
        render_rays(field, origins[:, i : i + step], directions[:, i : i + step], config, 0.0, generator)
        for i in range(0, origins.shape[1], step)
    ]
    image = torch.cat([p.image for p in parts], dim=1).reshape(b, v, height, width, -1).permute(0, 1, 4, 2, 3)
    opacity = torch.cat([p.opacity for p in parts], dim=1).reshape(b, v, height, width)
    depth = torch.cat([p.depth for p in parts], dim=1).reshape(b, v, height, width)
    if not (isinstance(background, (int, float)) and background == 0):
        if isinstance(background, Tensor) and background.dim() == 1:
            background = background[:, None, None]  # a colour: (C_out,) -> (C_out, 1, 1)
        image = image + (1.0 - opacity)[:, :, None] * background
    return RenderOutput(image=image, depth=depth, opacity=opacity)


