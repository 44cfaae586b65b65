"""The scene bank's config: per-scene Tri-Plane sizes and the micro-macro sharing."""

from __future__ import annotations

from dataclasses import dataclass

from latentscenes.config import option
from latentscenes.errors import ConfigError


@dataclass
class TriPlaneConfig:
    """Per-scene Tri-Planes (3, C, R, R) and the optional micro-macro sharing."""

    channels: int = option(32, "feature channels per plane (micro + macro when micro_macro)", min=1)
    resolution: int = option(64, "plane side R in texels", min=2)
    micro_macro: bool = option(
        True, "planes = concat(per-scene micro planes, mix of shared base planes + bias)"
    )
    micro_channels: int = option(
        10,
        "per-scene channels (micro_macro only); the rest are macro. 0 = ultra-lightweight scenes "
        "(Fused-Planes' ULW): a scene is only its base weights and bias",
        min=0,
    )
    micro_resolution: int = option(
        0,
        "side of the per-scene micro planes (micro_macro only); 0 = resolution. Smaller micro planes "
        "are upsampled bilinearly to resolution before the macro channels join them: half the side "
        "stores a quarter of each scene's values",
        min=0,
    )
    num_bases: int = option(50, "shared base planes M (micro_macro only)", min=1)
    init_std: float = option(
        0.1,
        "std of the random-normal init of the planes; bases get init_std/sqrt(M) so mixed "
        "planes start at the same scale",
        min=0.0,
    )
    weight_std: float = option(1.0, "std of the random-normal init of the per-scene base weights W", min=0.0)
    sparse_grad: bool = option(
        True,
        "per-scene tensors get sparse gradients holding only the batch's rows, and training "
        "updates only those rows (lazy Adam with per-row step counts); false = dense gradients and Adam over every scene "
        "at every step (memory and time grow with all scenes, not the batch)",
    )

    def __post_init__(self) -> None:
        if self.micro_macro and self.micro_channels >= self.channels:
            raise ConfigError(
                f"config key 'micro_channels' ({self.micro_channels}) must be smaller than "
                f"'channels' ({self.channels}) when micro_macro is on"
            )
        if self.micro_resolution > self.resolution:
            raise ConfigError(
                f"config key 'micro_resolution' ({self.micro_resolution}) must be at most "
                f"'resolution' ({self.resolution})"
            )

    @property
    def ultralight(self) -> bool:
        """Scenes are only base weights and a bias (micro-macro without micro channels)."""
        return self.micro_macro and self.micro_channels == 0

    @property
    def micro_side(self) -> int:
        """Side of the stored per-scene planes: micro_resolution, or resolution when 0 or plain."""
        return self.micro_resolution if self.micro_macro and self.micro_resolution else self.resolution

    @property
    def macro_channels(self) -> int:
        """Channels made from the shared bases (channels - micro_channels); 0 without micro-macro."""
        return self.channels - self.micro_channels if self.micro_macro else 0
