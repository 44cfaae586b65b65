"""Metrics of a learned scene's views against its images, for either model."""

from __future__ import annotations

import torch

from latentscenes.data import Scene
from latentscenes.evaluation.metrics import psnr, ssim
from latentscenes.models.latent import LatentScenes
from latentscenes.models.views import render_cameras


@torch.no_grad()
def view_metrics(model, row: int, scene: Scene, views: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per view (V,) of bank row `row` (scene `scene`): `psnr` and `ssim` of whole rendered
    (for latent scenes: decoded) views. Latent scenes add `latent_psnr` (rendered vs encoded
    normalised latents) and `ae_psnr` (the autoencoder's own reconstruction: the ceiling
    without decoder fine-tuning); before their normaliser is fitted (AE warm-up) only `ae_psnr`."""
    target = scene.model_images(views)
    if not isinstance(model, LatentScenes):
        prediction = model.render_images(row, scene, views)
        return {"psnr": psnr(prediction, target), "ssim": ssim(prediction, target)}
    autoencoder = model.autoencoder
    encoded = autoencoder.encode(target, sample=False)
    metrics = {"ae_psnr": psnr(autoencoder.decode(encoded).clamp(-1, 1), target)}
    if not model.normalizer_ready():
        return metrics
    rendered = render_cameras(model, row, scene, scene.cam2world[views], scene.intrinsics[views])
    metrics["psnr"] = psnr(rendered.images, target)
    metrics["ssim"] = ssim(rendered.images, target)
    metrics["latent_psnr"] = psnr(rendered.latents, autoencoder.normalizer.normalize(encoded))
    return metrics
