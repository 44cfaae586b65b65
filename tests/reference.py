"""Slow, obviously correct twins of the rendering layer's fast paths (as nerfacc keeps
them): loops and plain `nn.Linear`-style algebra that the tests compare with the fast
functions, forward and backward."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from latentscenes.rendering.config import RenderConfig
from latentscenes.rendering.decoder import TriPlaneDecoder, colour_activation
from latentscenes.rendering.renderer import RenderOutput, _flatten_rays, points_along_rays
from latentscenes.rendering.samplers import sample_intervals, stratified_quantiles, stratified_samples
from latentscenes.rendering.triplane import sample_triplane_reference


def decode_reference(
    decoder: TriPlaneDecoder, features: Tensor, directions: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Twin of `TriPlaneDecoder.forward` with F.linear on (B, N, C) features.

    directions: (B, N, 3) per point (view-dependent decoders only). Returns density (B, N)
    and colour (B, N, C_out).
    """
    w1, b1, w2, b2 = decoder.effective_weights()
    if decoder.config.view_dependent:
        features = torch.cat([features, directions], dim=-1)
    hidden = F.softplus(F.linear(features, w1, b1))
    raw = F.linear(hidden, w2, b2)
    density = F.softplus(raw[..., 0] + decoder.config.density_shift)
    return density, colour_activation(raw[..., 1:])


def render_weights_reference(density: Tensor, starts: Tensor, ends: Tensor) -> Tensor:
    """Slow twin of `render_weights`: walks the samples front to back with a running transmittance."""
    weights = []
    transmittance = torch.ones_like(density[..., 0])
    for i in range(density.shape[-1]):
        alpha = 1.0 - torch.exp(-density[..., i] * (ends[..., i] - starts[..., i]))
        weights.append(transmittance * alpha)
        transmittance = transmittance * (1.0 - alpha)
    return torch.stack(weights, dim=-1)


def importance_samples_reference(
    starts: Tensor, ends: Tensor, weights: Tensor, u: Tensor, padding: float = 0.01
) -> Tensor:
    """Slow twin of `importance_samples` with explicit quantiles u: (R, count), rows (R, S).

    Walks each ray's CDF bin by bin in Python. Returns (R, count).
    """
    out = torch.empty_like(u)
    for r in range(weights.shape[0]):
        w = weights[r].tolist()
        s = len(w)
        blurred = []
        for i in range(s):
            left = max(w[max(i - 1, 0)], w[i])
            right = max(w[i], w[min(i + 1, s - 1)])
            blurred.append(0.5 * (left + right) + padding + 1e-5)
        total = sum(blurred)
        for k, q in enumerate(u[r].tolist()):
            acc = 0.0
            for i in range(s):
                p = blurred[i] / total
                if q < acc + p or i == s - 1:
                    frac = min(max((q - acc) / p, 0.0), 1.0)
                    out[r, k] = starts[r, i] + frac * (ends[r, i] - starts[r, i])
                    break
                acc += p
    return out


def render_rays_reference(
    planes: Tensor,
    decoder: TriPlaneDecoder,
    origins: Tensor,
    directions: Tensor,
    config: RenderConfig,
    background: Tensor | float = 0.0,
    generator: torch.Generator | None = None,
) -> RenderOutput:
    """Slow, obviously-correct twin of `render`: per-plane sampling, nn.Linear-style MLP,
    loop-based compositing and importance sampling, and the field *re-evaluated* at the
    sorted union of coarse and fine samples. Draws random numbers in the same order as
    `render_rays`, so equal generators give equal samples."""
    o, d, ray_shape = _flatten_rays(origins, directions)
    b, r, _ = o.shape

    def field(t: Tensor) -> tuple[Tensor, Tensor]:
        points = points_along_rays(o, d, t)  # (B, R, S, 3)
        s = t.shape[-1]
        features = sample_triplane_reference(planes, points.reshape(b, r * s, 3), config.box, config.aggregate)
        dirs = d[:, :, None, :].expand(b, r, s, 3).reshape(b, r * s, 3)
        density, colour = decode_reference(decoder, features, dirs)
        return density.reshape(b, r, s), colour.reshape(b, r, s, -1)

    t = stratified_samples(
        (b, r), config.samples, config.near, config.far,
        deterministic=config.deterministic, generator=generator, device=o.device, dtype=o.dtype,
    )
    if config.importance_samples > 0:
        with torch.no_grad():
            density, _ = field(t)
            starts, ends = sample_intervals(t, config.near, config.far)
            weights = render_weights_reference(density, starts, ends)
            u = stratified_quantiles(
                (b, r), config.importance_samples, config.deterministic, generator, o.device, o.dtype
            )
            t_fine = importance_samples_reference(
                starts.reshape(b * r, -1), ends.reshape(b * r, -1), weights.reshape(b * r, -1),
                u.reshape(b * r, -1), config.importance_padding,
            ).reshape(b, r, -1)
        t = torch.sort(torch.cat([t, t_fine], dim=-1), dim=-1).values
    density, colour = field(t)
    starts, ends = sample_intervals(t, config.near, config.far)
    weights = render_weights_reference(density, starts, ends)
    opacity = weights.sum(-1)
    image = sum(weights[..., i, None] * colour[..., i, :] for i in range(t.shape[-1]))
    depth = (weights * t).sum(-1) / opacity.clamp_min(1e-10)
    image = image + (1.0 - opacity)[..., None] * background
    return RenderOutput(
        image=image.reshape(b, *ray_shape, -1),
        depth=depth.reshape(b, *ray_shape),
        opacity=opacity.reshape(b, *ray_shape),
    )

