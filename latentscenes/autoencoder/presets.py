"""Autoencoder architectures as data: keyword arguments of diffusers' `AutoencoderKL`.

Each preset lists one block per resolution; every block but the last halves the
resolution, so a preset with B blocks downsamples by 2^(B-1). A smaller factor keeps the
first log2(factor) + 1 blocks (the high-resolution ones), e.g. `small` at 4x is
16-32-64 channels.
"""

from __future__ import annotations

import math
from typing import Any

from latentscenes.errors import ConfigError

PRESETS: dict[str, dict[str, Any]] = {
    # Stable Diffusion v1.5's KL-f8 VAE (`stabilityai/sd-vae-ft-mse`): 83.7M parameters.
    "sd": {
        "block_out_channels": (128, 256, 512, 512),
        "layers_per_block": 2,
        "norm_num_groups": 32,
        "mid_block_add_attention": True,
        "sample_size": 256,
    },
    # CPU-sized (2.7M parameters at 8x): cheaper than `medium` and better at equal CPU time
    # (docs/log/benchmarks.md). Groups of 4 channels, because 16 groups would normalise each
    # 16-channel first-level map alone (instance norm).
    "small": {
        "block_out_channels": (16, 32, 64, 128),
        "layers_per_block": 1,
        "norm_num_groups": 4,
        "mid_block_add_attention": True,
        "sample_size": 128,
    },
    # Twice `small`'s first-level width, groups of 32: 3.9M parameters at 8x.
    "medium": {
        "block_out_channels": (32, 64, 128, 128),
        "layers_per_block": 1,
        "norm_num_groups": 32,
        "mid_block_add_attention": True,
        "sample_size": 128,
    },
    # For tests and smoke runs only: ~0.1M parameters, reconstructs nothing well.
    "tiny": {
        "block_out_channels": (8, 16, 16, 16),
        "layers_per_block": 1,
        "norm_num_groups": 4,
        "mid_block_add_attention": False,
        "sample_size": 32,
    },
}


def preset_kwargs(
    name: str, downsample: int = 8, latent_channels: int = 4, attention: bool | None = None
) -> dict[str, Any]:
    """`AutoencoderKL(**kwargs)` for preset `name` at spatial downsampling factor `downsample`;
    `attention` overrides the preset's self-attention in the middle blocks (None keeps it)."""
    if name not in PRESETS:
        raise ConfigError(f"config key 'autoencoder.preset' must be one of {', '.join(PRESETS)}, got {name!r}")
    preset = dict(PRESETS[name])
    channels = preset["block_out_channels"]
    max_factor = 2 ** (len(channels) - 1)
    if downsample < 1 or downsample & (downsample - 1) or downsample > max_factor:
        raise ConfigError(
            f"config key 'autoencoder.downsample' must be a power of two from 1 to {max_factor} "
            f"for preset {name!r}, got {downsample}"
        )
    blocks = int(math.log2(downsample)) + 1
    preset["block_out_channels"] = tuple(channels[:blocks])
    preset["down_block_types"] = ("DownEncoderBlock2D",) * blocks
    preset["up_block_types"] = ("UpDecoderBlock2D",) * blocks
    preset["latent_channels"] = latent_channels
    if attention is not None:
        preset["mid_block_add_attention"] = attention
    preset["in_channels"] = 3
    preset["out_channels"] = 3
    return preset
