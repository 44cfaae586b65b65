"""How much the decoder's image moves per direction of a latent pixel: the metric that makes
Encode-Scene's latent MSE measure what the decoded image loses.

A latent pixel's error d (c,) changes the decoded image by about J d, where J is the
decoder's Jacobian for that pixel; summed over the image, |J d|^2 = d^T M d with

    M = E_p[J_p^T J_p]      (c, c), averaged over the latent pixels p of typical latents.

Plain Encode-Scene weighs every normalised channel alike (M = I). The decoders we train are
far from that: the 2x car decoder's M has eigenvalues from 4e-5 to 11 (docs/log/benchmarks.md,
"Encode-Scene weighted by the decoder"), so most of the latent error a plain MSE removes is
in directions the decoder ignores. Encode-Scene with `es_weights=decoder` minimises
|L^T d|^2 / c instead, with L L^T = (1 - floor) M / mean(eig M) + floor I: the same scale as the
plain loss (M = I gives it back), and a floor that keeps every direction pinned to its
target, since M is a first-order (linear) view of the decoder.

M is estimated with random-sign probes: for a field s of independent +-1 signs on every
latent pixel, the decoder's response to s e_c (channel c only) is sum_p s_p J_p e_c, and the
cross-pixel terms of <J(s e_c), J(s e_d)> average out over signs, leaving sum_p (J_p^T J_p)_cd.
Responses are central finite differences: the diffusers decoder has no forward-mode autodiff.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

FINITE_DIFFERENCE_STEP = 1e-2  # normalised latents span (-1, 1); the decoder is near-linear at this scale


@torch.no_grad()
def decoder_metric(
    decode: Callable[[Tensor], Tensor], latents: Tensor, probes: int = 2, generator: torch.Generator | None = None
) -> Tensor:
    """M (c, c), symmetric positive semi-definite: the decoder's squared response per latent
    pixel, averaged over the pixels of `latents` (B, c, h, w) and `probes` sign fields.
    `decode` maps (B, c, h, w) latents to (B, 3, H, W) images."""
    # One memory layout: a convolution's last bits depend on its input's layout, the finite
    # differences below magnify them, and a resumed run reads its cached latents in another
    # layout than the run that computed them.
    latents = latents.contiguous()
    b, c, h, w = latents.shape
    metric = torch.zeros(c, c, dtype=torch.float64)
    for _ in range(probes):
        signs = torch.randint(0, 2, (b, 1, h, w), generator=generator).to(latents) * 2 - 1
        responses = []
        for channel in range(c):
            probe = torch.zeros_like(latents)
            probe[:, channel : channel + 1] = signs * FINITE_DIFFERENCE_STEP
            responses.append(((decode(latents + probe) - decode(latents - probe)) / (2 * FINITE_DIFFERENCE_STEP)).flatten(1))
        stacked = torch.stack(responses, 1).double()  # (B, c, 3 H W)
        metric += torch.einsum("bcn,bdn->cd", stacked, stacked)
    metric /= probes * b * h * w
    return ((metric + metric.T) / 2).float()


def metric_factor(metric: Tensor, floor: float) -> Tensor:
    """L (c, c) with L L^T = (1 - floor) M / mean(eig M) + floor I, so that |L^T d|^2 / c is
    the plain mean square of d when M = I (any floor), and floor = 1 ignores M."""
    if not 0.0 <= floor <= 1.0:
        raise ValueError(f"floor must be in [0, 1], got {floor}")
    c = metric.shape[0]
    scale = metric.diagonal().mean().clamp_min(torch.finfo(metric.dtype).tiny)
    blended = (1 - floor) * metric / scale + floor * torch.eye(c, dtype=metric.dtype)
    eigenvalues, vectors = torch.linalg.eigh(blended.double())
    return (vectors * eigenvalues.clamp_min(0).sqrt()).to(metric.dtype)  # V sqrt(Lambda): L L^T = blended
