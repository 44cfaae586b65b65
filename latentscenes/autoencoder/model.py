"""`LatentAutoencoder`: a diffusers `AutoencoderKL` plus the latent normaliser.

Images are `float32 (B, 3, H, W)` in `[-1, 1]`; latents are `(B, c, H/f, W/f)` with c latent
channels and downsampling factor f; normalised latents lie in (-1, 1) and are what
Tri-Planes render.

Files: `save_autoencoder(ae, folder)` writes diffusers' own layout (`config.json` +
`diffusion_pytorch_model.safetensors`, so `AutoencoderKL.from_pretrained(folder)` reads it
too) plus `normalizer.json` + `normalizer.safetensors`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from latentscenes.autoencoder.config import AutoencoderConfig
from latentscenes.autoencoder.normalize import (
    LatentNormalizer,
    make_normalizer,
    normalizer_from_description,
)
from latentscenes.autoencoder.presets import preset_kwargs
from latentscenes.data.scene import to_model_range
from latentscenes.errors import CheckpointError
from latentscenes.io import atomic_path, atomic_write_json
from latentscenes.weights import builtin_folder, is_builtin

NORMALIZER_JSON = "normalizer.json"
NORMALIZER_WEIGHTS = "normalizer.safetensors"


def images_to_model(images: Tensor | np.ndarray) -> Tensor:
    """`uint8 (N, H, W, 3)` -> `float32 (N, 3, H, W)` in [-1, 1] (the models' image convention)."""
    images = torch.as_tensor(images)
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be uint8 (N, H, W, 3), got {images.dtype} {tuple(images.shape)}")
    return to_model_range(images.permute(0, 3, 1, 2))


class LatentAutoencoder(nn.Module):
    """Encoder and decoder of a KL autoencoder with the latent normaliser.

    `vae` is a diffusers `AutoencoderKL`; `normalizer` a `LatentNormalizer`. Both are
    submodules, so `state_dict()` holds the weights and the normalisation statistics.
    """

    def __init__(self, vae: nn.Module, normalizer: LatentNormalizer):
        super().__init__()
        self.vae = vae
        self.normalizer = normalizer

    # -- shapes -------------------------------------------------------------------------
    @property
    def latent_channels(self) -> int:
        return int(self.vae.config.latent_channels)

    @property
    def downsample_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    def latent_shape(self, height: int, width: int) -> tuple[int, int, int]:
        """(c, h, w) of the latent of an `height x width` image."""
        f = self.downsample_factor
        if height % f or width % f:
            raise ValueError(f"image size {height}x{width} must be divisible by the downsampling factor {f}")
        return self.latent_channels, height // f, width // f

    # -- encode / decode ----------------------------------------------------------------
    def posterior(self, images: Tensor):
        """The diagonal Gaussian posterior of `images (B, 3, H, W)` in [-1, 1] (diffusers object)."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (B, 3, H, W), got {tuple(images.shape)}")
        self.latent_shape(images.shape[2], images.shape[3])
        return self.vae.encode(images).latent_dist

    def encode(self, images: Tensor, sample: bool = True, generator: torch.Generator | None = None) -> Tensor:
        """Latents `(B, c, h, w)` of `images (B, 3, H, W)` in [-1, 1]: a posterior sample or its mean."""
        posterior = self.posterior(images)
        return posterior.sample(generator) if sample else posterior.mean

    def decode(self, latents: Tensor) -> Tensor:
        """Images `(B, 3, H, W)` (about [-1, 1], not clamped) of latents `(B, c, h, w)`."""
        if latents.ndim != 4 or latents.shape[1] != self.latent_channels:
            raise ValueError(f"latents must be (B, {self.latent_channels}, h, w), got {tuple(latents.shape)}")
        return self.vae.decode(latents).sample

    def encode_normalized(
        self, images: Tensor, sample: bool = True, generator: torch.Generator | None = None
    ) -> Tensor:
        """`normalize(encode(images))`: `(B, c, h, w)` in (-1, 1)."""
        return self.normalizer.normalize(self.encode(images, sample=sample, generator=generator))

    def decode_normalized(self, normalized: Tensor) -> Tensor:
        """`decode(denormalize(normalized))`: images `(B, 3, H, W)` from normalised latents."""
        return self.decode(self.normalizer.denormalize(normalized))

    def reconstruct(self, images: Tensor) -> Tensor:
        """`decode(encode(images, sample=False))`, for evaluation."""
        return self.decode(self.encode(images, sample=False))

    @torch.no_grad()
    def latent_background(self, size: int | tuple[int, int]) -> Tensor:
        """`(c,)`: the normalised latent of a blank white image of `size` (H, W), averaged over positions.

        This is the background colour the latent renderer composites over. Computed
        without gradients from the posterior mean; recompute it after the encoder changes.
        """
        height, width = (size, size) if isinstance(size, int) else size
        white = torch.ones(1, 3, height, width, device=self.device, dtype=self.dtype)
        return self.encode_normalized(white, sample=False).mean(dim=(0, 2, 3))

    @torch.no_grad()
    def fit_normalizer(self, images: Tensor | Iterator[Tensor], batch_size: int = 16) -> LatentNormalizer:
        """Fit the normaliser on the posterior means of `images (N, 3, H, W)` in [-1, 1] (or batches)."""
        batches = images.split(batch_size) if isinstance(images, Tensor) else images
        latents = (self.encode(b.to(self.device, self.dtype), sample=False) for b in batches)
        return self.normalizer.fit(latents)

    # -- parameter groups ---------------------------------------------------------------
    def encoder_parameters(self) -> list[nn.Parameter]:
        """Encoder + quant_conv: what the Encode-Scene loss trains when the encoder is unfrozen."""
        modules = [self.vae.encoder, self.vae.quant_conv]
        return [p for m in modules if m is not None for p in m.parameters()]

    def decoder_parameters(self) -> list[nn.Parameter]:
        """post_quant_conv + decoder: what the Decode-Scene loss trains."""
        modules = [self.vae.post_quant_conv, self.vae.decoder]
        return [p for m in modules if m is not None for p in m.parameters()]

    def encoder_state(self) -> dict[str, Tensor]:
        """Named tensors that determine `encode` (encoder, quant_conv): what the latent cache keys on."""
        state = {f"encoder.{k}": v for k, v in self.vae.encoder.state_dict().items()}
        if self.vae.quant_conv is not None:
            state.update({f"quant_conv.{k}": v for k, v in self.vae.quant_conv.state_dict().items()})
        return state

    @property
    def device(self) -> torch.device:
        return next(self.vae.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.vae.parameters()).dtype


def _autoencoder_kl():
    from diffusers import AutoencoderKL

    return AutoencoderKL


def build_autoencoder(cfg: AutoencoderConfig) -> LatentAutoencoder:
    """The autoencoder `cfg` describes: pretrained weights when `cfg.vae` is set, else a fresh preset.

    A `cfg.vae` folder written by `save_autoencoder` also restores its normaliser; any
    other source gets a fresh normaliser of kind `cfg.normalization` (fit a
    'standardize' one before use).
    """
    if cfg.vae:
        folder = _local_folder(cfg.vae, cfg.vae_subfolder)
        if folder is not None and (folder / NORMALIZER_JSON).is_file():
            autoencoder = load_autoencoder(folder)
            if is_builtin(cfg.vae):  # a saved copy names the shipped weights, not this machine's package folder
                autoencoder.vae.register_to_config(_name_or_path=cfg.vae)
            return autoencoder
        vae = load_vae(cfg.vae, cfg.vae_subfolder)
    else:
        attention = False if cfg.fully_convolutional else None
        kwargs = preset_kwargs(cfg.preset, cfg.downsample, cfg.latent_channels, attention)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            vae = _autoencoder_kl()(**kwargs)
    normalizer = make_normalizer(
        cfg.normalization, int(vae.config.latent_channels), tanh_scale=cfg.tanh_scale, k=cfg.standardize_k
    )
    return LatentAutoencoder(vae, normalizer)


def _local_folder(source: str, subfolder: str = "") -> Path | None:
    if is_builtin(source):
        return builtin_folder(source)
    path = Path(source).expanduser()
    if not path.exists():
        return None
    if subfolder:
        path = path / subfolder
    elif not (path / "config.json").is_file() and (path / "vae" / "config.json").is_file():
        path = path / "vae"  # a full Stable Diffusion pipeline folder
    return path


def load_vae(source: str, subfolder: str = ""):
    """`AutoencoderKL.from_pretrained` of a local folder or hub id; failures raise `CheckpointError`."""
    AutoencoderKL = _autoencoder_kl()
    folder = _local_folder(source, subfolder)
    looks_local = source.startswith((".", "/", "~")) or source.count("/") != 1  # hub ids are owner/name
    if folder is None and looks_local:
        raise CheckpointError(f"autoencoder folder {source} does not exist (vae=<local folder or hub id>)")
    try:
        with _quiet_diffusers():  # its own error log would repeat the error raised below
            return _from_pretrained(AutoencoderKL, source, subfolder, folder)
    except CheckpointError:
        raise
    except Exception as error:  # diffusers raises OSError, ValueError, EnvironmentError, safetensors errors
        where = folder if folder is not None else f"hub id {source!r} (no local folder of that name either)"
        raise CheckpointError(f"cannot load the autoencoder from {where}: {type(error).__name__}: {error}") from error


@contextmanager
def _quiet_diffusers() -> Iterator[None]:
    logger = logging.getLogger("diffusers")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _from_pretrained(AutoencoderKL, source: str, subfolder: str, folder: Path | None):
    """Safetensors weights only: a pickled .bin would run code on load."""
    if folder is not None:
        if not (folder / "config.json").is_file():
            raise CheckpointError(
                f"autoencoder folder {folder} has no config.json: expected a folder written by "
                "AutoencoderKL.save_pretrained or latentscenes' save_autoencoder"
            )
        return AutoencoderKL.from_pretrained(folder, low_cpu_mem_usage=False, use_safetensors=True)
    return AutoencoderKL.from_pretrained(
        source, subfolder=subfolder or None, low_cpu_mem_usage=False, use_safetensors=True
    )


def save_autoencoder(ae: LatentAutoencoder, folder: str | os.PathLike) -> Path:
    """Write `ae` to `folder` (diffusers layout + normaliser); each file is replaced atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        ae.vae.save_pretrained(staging, safe_serialization=True)
        for item in sorted(staging.iterdir()):
            os.replace(item, folder / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    state = {k: v.detach().cpu().contiguous() for k, v in ae.normalizer.state_dict().items()}
    with atomic_path(folder / NORMALIZER_WEIGHTS) as tmp:
        save_file(state, str(tmp))
    atomic_write_json(folder / NORMALIZER_JSON, ae.normalizer.describe())
    return folder


def load_autoencoder(folder: str | os.PathLike) -> LatentAutoencoder:
    """Read an autoencoder written by `save_autoencoder`; errors name the folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"autoencoder folder {folder} does not exist")
    meta_path, weights_path = folder / NORMALIZER_JSON, folder / NORMALIZER_WEIGHTS
    if not meta_path.is_file() or not weights_path.is_file():
        raise CheckpointError(
            f"autoencoder folder {folder} has no {NORMALIZER_JSON} / {NORMALIZER_WEIGHTS}: "
            "it was not written by save_autoencoder (use vae=<folder> to load bare weights)"
        )
    vae = load_vae(str(folder))
    try:
        normalizer = normalizer_from_description(json.loads(meta_path.read_text()))
        normalizer.load_state_dict(load_file(str(weights_path)))
    except Exception as error:
        raise CheckpointError(f"cannot load the latent normaliser from {folder}: {error}") from error
    if isinstance(getattr(normalizer, "mean", None), Tensor) and normalizer.mean.numel() != vae.config.latent_channels:
        raise CheckpointError(
            f"latent normaliser in {folder} has {normalizer.mean.numel()} channels, "
            f"the autoencoder {vae.config.latent_channels}"
        )
    return LatentAutoencoder(vae, normalizer)
