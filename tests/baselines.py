"""What a model must beat to show it learned something: the best constant guess."""

import torch

from latentscenes.evaluation.metrics import psnr


def best_constant_psnr(targets: torch.Tensor) -> float:
    """Mean PSNR over `targets (V, C, H, W)` of each one's best constant guess, its mean per
    channel (the guess with the least squared error); images or normalised latents alike."""
    return float(psnr(targets.mean(dim=(2, 3), keepdim=True).expand_as(targets), targets).mean())
