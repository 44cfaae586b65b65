"""Image metrics on images in [-1, 1] (peak-to-peak 2), as in the method's evaluation.

PSNR = 10 log10(2^2 / MSE). SSIM is torchmetrics' Gaussian-window SSIM with
`data_range=2`. Both are computed per image and averaged by the caller.
"""

from __future__ import annotations

import torch
from torchmetrics.functional.image import structural_similarity_index_measure

DATA_RANGE = 2.0


def psnr(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB.

    prediction, target: (B, C, H, W) in [-1, 1]. Returns (B,).
    """
    return psnr_from_mse((prediction.float() - target.float()).pow(2).flatten(1).mean(dim=1))


def psnr_from_mse(mse: torch.Tensor) -> torch.Tensor:
    """PSNR in dB of mean squared errors (any shape) of images in [-1, 1]."""
    return 10.0 * torch.log10(DATA_RANGE**2 / mse.clamp_min(1e-12))


def ssim(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM. prediction, target: (B, 3, H, W) in [-1, 1]. Returns (B,)."""
    return structural_similarity_index_measure(
        prediction.float().clamp(-1, 1), target.float(), data_range=DATA_RANGE, reduction="none"
    )

