"""Typed configs of the rendering layer: the renderer and the tiny MLP decoder.

Both are plain dataclasses declared with `latentscenes.config.option`, so they load
from YAML and `key=value` overrides (`render.samples=32`) and validate their ranges.
Defaults are the reference setting of the method (the paper and its public implementation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from latentscenes.config import option
from latentscenes.errors import ConfigError


@dataclass
class RenderConfig:
    """How rays are sampled and composited (EG3D-style two-pass volume rendering)."""

    samples: int = option(48, "stratified (coarse) samples per ray", min=1)
    importance_samples: int = option(
        48, "importance (fine) samples per ray drawn from the coarse weights; 0 disables", min=0
    )
    near: float = option(0.5, "distance along the (unit) ray where sampling starts", min=0.0)
    far: float = option(2.1, "distance along the (unit) ray where sampling ends", min=0.0)
    box: float = option(2.0, "side of the cube the planes cover: [-box/2, box/2]^3", min=1e-6)
    aggregate: Literal["sum", "product"] = option("sum", "how features of the three planes combine")
    sampler: Literal["auto", "gather", "grid_sample"] = option(
        "auto", "Tri-Plane lookup: auto = gather (embedding_bag) on CPU, grid_sample on GPU"
    )
    deterministic: bool = option(
        False, "no random jitter: samples at strata centres and quantile midpoints (eval)"
    )
    subpixel_rays: bool = option(
        False,
        "Encode-Scene on random rays: each ray goes through its sampled image pixel, anywhere in its latent "
        "pixel's footprint, instead of the latent pixel's centre (the planes learn a latent pixel as the "
        "average over its footprint)",
    )
    importance_padding: float = option(
        0.01, "added to the blurred coarse weights before importance sampling (EG3D: 0.01)", min=0.0
    )
    chunk_rays: int = option(
        8192, "rays (over all scenes of a batch) rendered in one go by `render_views`", min=1
    )

    def __post_init__(self) -> None:
        if self.far <= self.near:
            raise ConfigError(f"config key 'far' ({self.far}) must be greater than 'near' ({self.near})")


@dataclass
class DecoderConfig:
    """The tiny MLP shared by all scenes: C -> hidden (softplus) -> 1 + C_out."""

    hidden: int = option(64, "hidden width", min=1)
    view_dependent: bool = option(False, "feed the unit view direction to the MLP (off in the method)")
    density_shift: float = option(
        -1.0, "added to the raw density before softplus (EG3D: softplus(x - 1))"
    )
    equalized_lr: bool = option(
        True,
        "store weights ~ N(0, 1) and scale by 1/sqrt(fan_in) in forward (EG3D's FullyConnectedLayer), "
        "so Adam learning rates match the reference",
    )
