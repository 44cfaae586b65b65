"""The autoencoders shipped with the package (`autoencoder.vae=builtin:torcs-cars`, its
3D-aware successors and the 2x and full-resolution spaces)."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch

from latentscenes.autoencoder import AutoencoderConfig, build_autoencoder
from latentscenes.autoencoder.equivariance import probe_warps, warped_decoding_error
from latentscenes.data import to_model_range
from latentscenes.errors import ConfigError
from latentscenes.evaluation.metrics import psnr, psnr_from_mse
from latentscenes.weights import builtin_names, provenance, training_seconds


def coloured_shapes(n=6, size=128, seed=0):
    """White images with saturated rectangles of random colours: `uint8 (n, size, size, 3)`."""
    rng = np.random.default_rng(seed)
    out = np.full((n, size, size, 3), 255, np.uint8)
    for image in out:
        for _ in range(3):
            x0, y0 = rng.integers(8, size // 2, 2)
            w, h = rng.integers(16, size // 2, 2)
            image[y0 : y0 + h, x0 : x0 + w] = rng.integers(0, 256, 3)
    return out


def model_images(images: np.ndarray) -> torch.Tensor:
    return to_model_range(torch.from_numpy(images).permute(0, 3, 1, 2))


@torch.no_grad()
def reconstruction_psnr(ae, images: torch.Tensor) -> float:
    """Mean PSNR of `decode(encode(x))` (posterior mean) over `images (N, 3, H, W)` in [-1, 1]."""
    return float(psnr(ae.reconstruct(images).clamp(-1, 1), images).mean())


def test_torcs_cars_weights_are_shipped_with_their_provenance():
    assert "torcs-cars" in builtin_names()
    record = provenance("builtin:torcs-cars")
    assert "autoencoder-torcs.yaml" in record["command"] and record["heldout_meshes"]
    assert record["unseen_psnr"] >= 28.0


def test_torcs_cars_weights_reconstruct_unseen_colours():
    """Shapes and colours it never saw (not cars at all) come back sharp and in colour."""
    ae = build_autoencoder(AutoencoderConfig(vae="builtin:torcs-cars"))
    assert ae.downsample_factor == 4 and ae.normalizer.fitted
    assert reconstruction_psnr(ae, model_images(coloured_shapes())) > 28.0
    with torch.no_grad():
        normalized = ae.encode_normalized(torch.zeros(1, 3, 128, 128), sample=False)
    assert normalized.abs().max() < 1


def test_a_saved_copy_of_shipped_weights_names_them_not_the_package_folder(tmp_path):
    import json

    from latentscenes.autoencoder import save_autoencoder

    save_autoencoder(build_autoencoder(AutoencoderConfig(vae="builtin:torcs-cars-2x-3d")), tmp_path / "copy")
    assert json.loads((tmp_path / "copy" / "config.json").read_text())["_name_or_path"] == "builtin:torcs-cars-2x-3d"


def test_unknown_builtin_name_lists_the_shipped_ones():
    with pytest.raises(ConfigError, match="builtin:torcs-cars"):
        build_autoencoder(AutoencoderConfig(vae="builtin:no-such-weights"))


def _psnr_of_reconstruction_and_of_resampled_latents(name: str) -> tuple[float, float]:
    ae = build_autoencoder(AutoencoderConfig(vae=f"builtin:{name}"))
    x = model_images(coloured_shapes())
    with torch.no_grad():
        latents = ae.encode(x, sample=False)
        errors = torch.stack([warped_decoding_error(ae.decode, latents, x, theta) for theta in probe_warps(128)])
    return reconstruction_psnr(ae, x), float(psnr_from_mse(errors).mean())


def test_2x_weights_keep_more_latent_pixels_and_decode_their_resampling():
    """`builtin:torcs-cars-2x-3d`: 64 x 64 x 8 latents for 128 px images, trained from scratch
    (its provenance starts from nothing shipped), reconstructing shapes it never saw and decoding
    their resampled latents almost as well."""
    ae = build_autoencoder(AutoencoderConfig(vae="builtin:torcs-cars-2x-3d"))
    assert ae.downsample_factor == 2 and ae.latent_shape(128, 128) == (8, 64, 64)
    own, resampled = _psnr_of_reconstruction_and_of_resampled_latents("torcs-cars-2x-3d")
    assert own > 30.0 and own - resampled < 2.0
    record = provenance("builtin:torcs-cars-2x-3d")
    assert "starts_from" not in record and "autoencoder.downsample=2" in record["command"]
    assert record["command"].count("train-3d-aware.yaml") == 1
    assert training_seconds("builtin:torcs-cars-2x-3d") == record["train_seconds"]
    assert record["heldout_meshes"] == provenance("builtin:torcs-cars")["heldout_meshes"]


def test_1x_weights_keep_every_pixel_and_decode_their_resampling():
    """`builtin:torcs-cars-1x`: 128 x 128 x 16 latents for 128 px images, trained from scratch
    with a KL weight of 1e-4 and no 3D-aware round; it reconstructs shapes it never saw far above
    the 2x space's ceiling and decodes their resampled latents almost as well."""
    ae = build_autoencoder(AutoencoderConfig(vae="builtin:torcs-cars-1x"))
    assert ae.downsample_factor == 1 and ae.latent_shape(128, 128) == (16, 128, 128)
    own, resampled = _psnr_of_reconstruction_and_of_resampled_latents("torcs-cars-1x")
    two_x_own, _ = _psnr_of_reconstruction_and_of_resampled_latents("torcs-cars-2x-3d")
    assert own > two_x_own + 5.0 and own - resampled < 2.0
    record = provenance("builtin:torcs-cars-1x")
    assert "starts_from" not in record and "train-3d-aware.yaml" not in record["command"]
    assert "autoencoder.downsample=1" in record["command"] and "autoencoder.latent_channels=16" in record["command"]
    assert training_seconds("builtin:torcs-cars-1x") == record["train_seconds"] > 0
    assert record["heldout_meshes"] == provenance("builtin:torcs-cars")["heldout_meshes"]
    assert record["unseen_psnr"] > provenance("builtin:torcs-cars-2x-3d")["unseen_psnr"] + 5.0
