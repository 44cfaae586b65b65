"""Where along each ray the field is evaluated: stratified samples, then importance samples.

Samples are distances `t` along unit rays, sorted ascending, shape (..., S). Each sample
stands for an interval of the ray (`sample_intervals`): the edges are the midpoints
between neighbouring samples, with `near` and `far` as the outer edges. For stratified
samples at strata centres these are exactly the strata; for a constant density sigma
over [near, far] the rendered opacity is exactly 1 - exp(-sigma (far - near)) whatever
the samples.

Importance samples are drawn by inverse-CDF sampling of the piecewise-constant density
over those intervals proportional to the (blurred, padded) coarse weights, as in
EG3D/MipNeRF; no Python loops, one `searchsorted`. Sample placement carries no
gradient (callers run it under `torch.no_grad()`).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "stratified_quantiles",
    "stratified_samples",
    "sample_intervals",
    "blur_weights",
    "importance_samples",
]


def stratified_quantiles(
    shape: tuple[int, ...], count: int, deterministic: bool, generator=None, device=None, dtype=torch.float32
) -> Tensor:
    """(k + u_k) / count for k < count, u_k = 0.5 (deterministic) or U[0, 1). Returns (*shape, count).

    `generator` must live on `device` (a CUDA generator for CUDA rays)."""
    k = torch.arange(count, device=device, dtype=dtype)
    if deterministic:
        return ((k + 0.5) / count).expand(*shape, count)
    jitter = torch.rand(*shape, count, generator=generator, device=device, dtype=dtype)
    return (k + jitter) / count


def stratified_samples(
    shape: tuple[int, ...],
    count: int,
    near: float,
    far: float,
    *,
    deterministic: bool = False,
    generator: torch.Generator | None = None,
    device=None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """One sample in each of `count` equal strata of [near, far]. Returns (*shape, count), sorted.

    t_k = near + (k + u_k) (far - near) / count, u_k = 0.5 when deterministic, else U[0, 1).
    """
    q = stratified_quantiles(shape, count, deterministic, generator, device, dtype)
    return near + (far - near) * q


def sample_intervals(t: Tensor, near: float, far: float) -> tuple[Tensor, Tensor]:
    """Interval of the ray each sample stands for. t: (..., S) sorted -> (starts, ends), each (..., S).

    starts = [near, m_0, ..., m_{S-2}], ends = [m_0, ..., m_{S-2}, far] with m_i = (t_i + t_{i+1}) / 2.
    """
    mid = 0.5 * (t[..., 1:] + t[..., :-1])
    shape = t.shape[:-1] + (1,)
    starts = torch.cat([t.new_full(shape, near), mid], dim=-1)
    ends = torch.cat([mid, t.new_full(shape, far)], dim=-1)
    return starts, ends


def blur_weights(weights: Tensor) -> Tensor:
    """MipNeRF/EG3D weight blur: a 2-tap max filter then a 2-tap box filter. (..., S) -> (..., S).

    w'_i = (max(w_{i-1}, w_i) + max(w_i, w_{i+1})) / 2, with w_{-1} = w_0 and w_S = w_{S-1}.
    """
    padded = torch.cat([weights[..., :1], weights, weights[..., -1:]], dim=-1)
    maxed = torch.maximum(padded[..., :-1], padded[..., 1:])  # (..., S + 1)
    return 0.5 * (maxed[..., :-1] + maxed[..., 1:])


def importance_samples(
    starts: Tensor,
    ends: Tensor,
    weights: Tensor,
    count: int,
    *,
    padding: float = 0.01,
    deterministic: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Inverse-CDF samples of the density proportional to blur(weights) + padding.

    starts, ends, weights: (..., S) (intervals from `sample_intervals`, coarse weights).
    Returns (..., count) sorted: the quantiles (k + u_k) / count, u_k = 0.5 when
    deterministic, else U[0, 1), mapped through the inverse CDF, which is linear inside
    each interval. A tiny 1e-5 keeps all-zero rows well defined (uniform samples).
    """
    pdf = blur_weights(weights) + (padding + 1e-5)
    cdf = torch.cumsum(pdf, dim=-1)
    cdf = cdf / cdf[..., -1:]
    cdf = torch.cat([torch.zeros_like(cdf[..., :1]), cdf], dim=-1)  # (..., S + 1), 0 ... 1
    u = stratified_quantiles(weights.shape[:-1], count, deterministic, generator, weights.device, weights.dtype)
    u = u.contiguous()
    index = torch.searchsorted(cdf, u, right=True) - 1
    index = index.clamp(0, weights.shape[-1] - 1)
    cdf_low = torch.gather(cdf, -1, index)
    cdf_high = torch.gather(cdf, -1, index + 1)
    frac = ((u - cdf_low) / (cdf_high - cdf_low)).clamp(0.0, 1.0)
    t_low = torch.gather(starts, -1, index)
    t_high = torch.gather(ends, -1, index)
    return t_low + frac * (t_high - t_low)


