"""The autoencoder shipped with the package (`autoencoder.vae=builtin:torcs-cars`)."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch

from latentscenes.autoencoder import AutoencoderConfig, build_autoencoder, reconstruction_psnr
from latentscenes.errors import ConfigError
from latentscenes.weights import builtin_names, provenance


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


def test_torcs_cars_weights_are_shipped_with_their_provenance():
    assert "torcs-cars" in builtin_names()
    record = provenance("builtin:torcs-cars")
    assert "autoencoder-torcs.yaml" in record["command"] and record["heldout_meshes"]
    assert record["unseen_psnr"] >= 28.0


def test_torcs_cars_weights_reconstruct_unseen_colours():
    """Shapes and colours it never saw (not cars at all) come back sharp and in colour."""
    ae = build_autoencoder(AutoencoderConfig(vae="builtin:torcs-cars"))
    assert ae.downsample_factor == 4 and ae.normalizer.fitted
    images = coloured_shapes()
    assert float(reconstruction_psnr(ae, images).mean()) > 28.0
    with torch.no_grad():
        normalized = ae.encode_normalized(torch.zeros(1, 3, 128, 128), sample=False)
    assert normalized.abs().max() < 1


def test_unknown_builtin_name_lists_the_shipped_ones():
    with pytest.raises(ConfigError, match="builtin:torcs-cars"):
        build_autoencoder(AutoencoderConfig(vae="builtin:no-such-weights"))
