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


def test_3d_aware_weights_record_the_commands_that_made_them_from_the_plain_ones():
    record = provenance("builtin:torcs-cars-3d")
    assert record["starts_from"] == "builtin:torcs-cars"
    assert record["command"].count("train-3d-aware.yaml") == 2
    assert record["heldout_meshes"] == provenance("builtin:torcs-cars")["heldout_meshes"]
    assert training_seconds("builtin:torcs-cars-3d") == record["train_seconds"] + training_seconds("builtin:torcs-cars")
    assert training_seconds("builtin:torcs-cars") == provenance("builtin:torcs-cars")["train_seconds"]


def _psnr_of_reconstruction_and_of_resampled_latents(name: str) -> tuple[float, float]:
    ae = build_autoencoder(AutoencoderConfig(vae=f"builtin:{name}"))
    x = model_images(coloured_shapes())
    with torch.no_grad():
        latents = ae.encode(x, sample=False)
        errors = torch.stack([warped_decoding_error(ae.decode, latents, x, theta) for theta in probe_warps(128)])
    return reconstruction_psnr(ae, x), float(psnr_from_mse(errors).mean())


def test_3d_aware_weights_decode_resampled_latents_as_well_as_their_own():
    """What renders need: latents shifted by a quarter latent pixel, zoomed or turned decode
    almost as well as the encoder's own (the plain weights lose ~7 dB), on shapes that are
    not cars."""
    plain_own, plain_resampled = _psnr_of_reconstruction_and_of_resampled_latents("torcs-cars")
    aware_own, aware_resampled = _psnr_of_reconstruction_and_of_resampled_latents("torcs-cars-3d")
    assert aware_own > 28.0
    assert aware_own - aware_resampled < 2.0 < plain_own - plain_resampled
    assert aware_resampled > plain_resampled + 1.0


def test_novel_view_decoder_keeps_the_3d_aware_latent_space():
    """`builtin:torcs-cars-3d-novel` is `builtin:torcs-cars-3d` with another decoder: the same
    encoder and normaliser (so stage-1 runs made with either take it as stage 2's
    `autoencoder=`), a decoder that still reconstructs shapes it never saw."""
    aware = build_autoencoder(AutoencoderConfig(vae="builtin:torcs-cars-3d")).state_dict()
    novel_ae = build_autoencoder(AutoencoderConfig(vae="builtin:torcs-cars-3d-novel"))
    novel = novel_ae.state_dict()
    decoder = [name for name in aware if name.startswith(("vae.decoder.", "vae.post_quant_conv."))]
    assert aware.keys() == novel.keys() and decoder
    assert all(torch.equal(aware[name], novel[name]) for name in aware if name not in decoder)
    assert not all(torch.equal(aware[name], novel[name]) for name in decoder)
    assert reconstruction_psnr(novel_ae, model_images(coloured_shapes())) > 28.0
    record = provenance("builtin:torcs-cars-3d-novel")
    assert record["starts_from"] == "builtin:torcs-cars-3d" and "novel.steps=" in record["command"]
    assert training_seconds("builtin:torcs-cars-3d-novel") == record["train_seconds"] + training_seconds("builtin:torcs-cars-3d")


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
