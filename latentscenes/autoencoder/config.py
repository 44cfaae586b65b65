"""The autoencoder's typed config: which architecture, which weights, which latent normalisation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from latentscenes.config import option


@dataclass
class AutoencoderConfig:
    """How to build the image autoencoder (a diffusers `AutoencoderKL`) and its latent normaliser."""

    preset: Literal["sd", "medium", "small", "tiny"] = option(
        "small",
        "architecture when no `vae` is given: 'sd' = Stable Diffusion v1.5 VAE (83.7M parameters, "
        "for GPUs), 'medium' = 32-64-128-128 channels, 'small' = 16-32-64-128 channels (CPU; "
        "both one layer per block), 'tiny' = tests only",
    )
    downsample: int = option(
        8, "spatial downsampling factor of a preset (a power of two; 8: 128 px -> 16x16 latents)",
        min=1, max=64,
    )
    vae: str = option(
        "",
        "pretrained weights: 'builtin:<name>' for weights shipped with latentscenes (e.g. "
        "builtin:torcs-cars), a local folder written by save_pretrained / save_autoencoder, or a "
        "Hugging Face hub id (e.g. stabilityai/sd-vae-ft-mse); empty = build `preset` from scratch. "
        "The architecture then comes from the weights and `preset`/`downsample` are ignored",
    )
    vae_subfolder: str = option("", "subfolder of `vae` that holds the VAE (e.g. 'vae' in a full SD pipeline)")
    latent_channels: int = option(4, "latent channels of a preset", min=1)
    fully_convolutional: bool = option(
        False,
        "drop the self-attention of a preset's middle blocks: cheaper, and crops (train_crop) then "
        "train it exactly as whole images would",
    )
    seed: int = option(0, "seed of the random initialisation of a preset")
    normalization: Literal["tanh", "standardize"] = option(
        "standardize",
        "latent normalisation before Tri-Planes see it: 'tanh' = tanh(tanh_scale * z) (the reference, "
        "tuned to the SD VAE's latent range), 'standardize' = clamp((z - mean) / (k std), +-0.99) "
        "per channel, fitted on the training latents (suits from-scratch autoencoders)",
    )
    tanh_scale: float = option(0.02, "scale inside tanh for normalization=tanh", min=1e-6)
    standardize_k: float = option(3.0, "k of normalization=standardize: z_n = (z - mean) / (k std)", min=1e-3)
    kl_weight: float = option(1e-6, "weight of the KL term (per latent value) next to the per-pixel MSE", min=0.0)
    train_crop: int = option(
        0,
        "the autoencoder reconstruction loss (warm-up, and the AE term of the joint phase) sees one "
        "random square crop of this many pixels per image instead of the whole image (0 = whole): "
        "a 64 px crop of a 128 px view costs a quarter, so a warm-up takes 4x more steps per second",
        min=0,
    )
    augment_hue: float = option(
        0.1,
        "colour augmentation in AE training: hue rotation uniform in +-hue turns; keep it mild, "
        "with any hue (0.5) a from-scratch autoencoder learns to output grey",
        min=0.0, max=0.5,
    )
    augment_saturation: float = option(
        0.2, "colour augmentation in AE training: saturation scaled by a factor in [1-s, 1+s]", min=0.0, max=1.0,
    )
