"""The autoencoder's own loss (MSE + a small KL): stage 1's warm-up phase trains on it alone,
and it is the `ae` term of every later phase (`LatentScenes.loss_terms`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from latentscenes.autoencoder.model import LatentAutoencoder


def autoencoder_losses(
    ae: LatentAutoencoder,
    images: Tensor,
    sample: bool = True,
    kl_weight: float = 1e-6,
    generator: torch.Generator | None = None,
    posterior=None,
) -> dict[str, Tensor]:
    """Reconstruction and KL losses of `images (B, 3, H, W)` in [-1, 1].

    Pass `posterior` (from `ae.posterior(images)`) to reuse an encoding made for another loss.

    - `reconstruction`: `mean((D(z) - x)^2)` over pixels, z a posterior sample (or the mean).
    - `kl`: KL(q(z|x) || N(0, I)) per latent value,
      `mean(0.5 (mu^2 + sigma^2 - 1 - log sigma^2))`.
    - `total`: `reconstruction + kl_weight * kl`.
    """
    if posterior is None:
        posterior = ae.posterior(images)
    latents = posterior.sample(generator) if sample else posterior.mean
    decoded = ae.decode(latents)
    reconstruction = F.mse_loss(decoded, images)
    kl = 0.5 * (posterior.mean.pow(2) + posterior.var - 1.0 - posterior.logvar).mean()
    return {"reconstruction": reconstruction, "kl": kl, "total": reconstruction + kl_weight * kl}

