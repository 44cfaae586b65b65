"""Autoencoder warm-up: plain autoencoding (MSE + a small KL) before the 3D-aware stage.

`autoencoder_losses` is the loss the stage loop calls (it is also the AE reconstruction
term of stage 1 phase B); `warmup_autoencoder` is a minimal loop around it for tests,
measurements and scripts.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from latentscenes.autoencoder.augment import augment_colours, random_crops
from latentscenes.autoencoder.model import LatentAutoencoder, images_to_model


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
    - `reconstruction_psnr`: PSNR (peak-to-peak 2) of the batch MSE, for logging (no grad).
    """
    if posterior is None:
        posterior = ae.posterior(images)
    latents = posterior.sample(generator) if sample else posterior.mean
    decoded = ae.decode(latents)
    reconstruction = F.mse_loss(decoded, images)
    kl = 0.5 * (posterior.mean.pow(2) + posterior.var - 1.0 - posterior.logvar).mean()
    return {
        "reconstruction": reconstruction,
        "kl": kl,
        "total": reconstruction + kl_weight * kl,
        "reconstruction_psnr": mse_to_psnr(reconstruction.detach()),
    }


def mse_to_psnr(mse: Tensor) -> Tensor:
    """PSNR in dB of images in [-1, 1] (peak-to-peak 2): `10 log10(4 / mse)`."""
    return 10 * torch.log10(4.0 / mse)


def warmup_autoencoder(
    ae: LatentAutoencoder,
    images: Tensor | np.ndarray,
    steps: int,
    batch_size: int,
    lr: float,
    generator: torch.Generator,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
    hue: float = 0.0,
    saturation: float = 0.0,
    kl_weight: float = 1e-6,
    optimizer: torch.optim.Optimizer | None = None,
    crop: int = 0,
) -> list[float]:
    """Train `ae` to reconstruct `images uint8 (N, H, W, 3)` for `steps` Adam steps; returns the losses.

    Each step draws `batch_size` images at random (from `generator`), recolours them
    (`augment_colours` with `hue`, `saturation`; 0 = off), takes one random `crop` x `crop`
    square of each (0 = whole images) and minimises
    `autoencoder_losses(...)["total"]` with posterior samples. `on_step(step, losses)`
    is called after every step with float losses. Pass `optimizer` to continue a run.
    """
    images = torch.as_tensor(images)
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be uint8 (N, H, W, 3), got {images.dtype} {tuple(images.shape)}")
    if optimizer is None:
        optimizer = torch.optim.Adam(ae.vae.parameters(), lr=lr)
    ae.train()
    history = []
    for step in range(steps):
        index = torch.randint(len(images), (min(batch_size, len(images)),), generator=generator)
        batch = images_to_model(images[index]).to(ae.device, ae.dtype)
        if crop:
            batch = random_crops(batch, crop, generator)
        if hue > 0 or saturation > 0:
            batch = augment_colours(batch, generator, hue=hue, saturation=saturation)
        losses = autoencoder_losses(ae, batch, sample=True, kl_weight=kl_weight, generator=generator)
        optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()
        optimizer.step()
        values = {k: float(v.detach()) for k, v in losses.items()}
        history.append(values["total"])
        if on_step is not None:
            on_step(step, values)
    return history


@torch.no_grad()
def reconstruction_psnr(ae: LatentAutoencoder, images: Tensor | np.ndarray, batch_size: int = 16) -> Tensor:
    """Per-image PSNR `(N,)` of `decode(encode(x, mean))` vs `images uint8 (N, H, W, 3)`, clamped to [-1, 1]."""
    images = torch.as_tensor(images)
    scores = []
    for chunk in images.split(batch_size):
        target = images_to_model(chunk).to(ae.device, ae.dtype)
        output = ae.reconstruct(target).clamp(-1, 1)
        scores.append(mse_to_psnr((output - target).pow(2).mean(dim=(1, 2, 3))).cpu())
    return torch.cat(scores)
