"""The image autoencoder: AutoencoderKL presets and loading, latent normalisation, latent cache, its loss.

    cfg = AutoencoderConfig(preset="small", downsample=8)
    ae = build_autoencoder(cfg)                                   # or vae=<folder | hub id>
    losses = autoencoder_losses(ae, augment_colours(images, hue=0.5, saturation=0.5))  # ['total']
    latents = LatentCache("cache/latents").get_or_compute(ae, {scene_id: views_uint8})
    ae.normalizer.fit(torch.cat(list(latents.values())))          # 'standardize' only
    z_n = ae.normalizer(latents[scene_id]); background = ae.latent_background(128)
    rgb = ae.decode_normalized(rendered_latents)
    save_autoencoder(ae, "runs/x/autoencoder"); ae = load_autoencoder("runs/x/autoencoder")
"""

from latentscenes.autoencoder.augment import augment_colours, hue_rotation_matrix, random_crops, saturation_matrix
from latentscenes.autoencoder.cache import LatentCache, encoder_key, images_key
from latentscenes.autoencoder.config import AutoencoderConfig
from latentscenes.autoencoder.model import (
    LatentAutoencoder,
    build_autoencoder,
    images_to_model,
    load_autoencoder,
    load_vae,
    save_autoencoder,
)
from latentscenes.autoencoder.normalize import (
    LatentNormalizer,
    StandardizeNormalizer,
    TanhNormalizer,
    make_normalizer,
)
from latentscenes.autoencoder.presets import PRESETS, preset_kwargs
from latentscenes.autoencoder.warmup import autoencoder_losses

__all__ = [
    "PRESETS",
    "AutoencoderConfig",
    "LatentAutoencoder",
    "LatentCache",
    "LatentNormalizer",
    "StandardizeNormalizer",
    "TanhNormalizer",
    "augment_colours",
    "random_crops",
    "autoencoder_losses",
    "build_autoencoder",
    "encoder_key",
    "hue_rotation_matrix",
    "images_key",
    "images_to_model",
    "load_autoencoder",
    "load_vae",
    "make_normalizer",
    "preset_kwargs",
    "save_autoencoder",
    "saturation_matrix",
]
