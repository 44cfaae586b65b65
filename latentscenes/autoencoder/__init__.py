"""The image autoencoder: AutoencoderKL presets and loading, latent normalisation, latent cache, warm-up.

    cfg = AutoencoderConfig(preset="small", downsample=8)
    ae = build_autoencoder(cfg)                                   # or vae=<folder | hub id>
    warmup_autoencoder(ae, images_uint8, steps, batch_size, lr, generator, hue=0.5, saturation=0.5)
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
from latentscenes.autoencoder.warmup import (
    autoencoder_losses,
    mse_to_psnr,
    reconstruction_psnr,
    warmup_autoencoder,
)

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
    "mse_to_psnr",
    "preset_kwargs",
    "reconstruction_psnr",
    "save_autoencoder",
    "saturation_matrix",
    "warmup_autoencoder",
]
