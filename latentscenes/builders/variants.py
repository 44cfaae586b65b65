"""Deterministic variants of one source mesh, so that a few real meshes yield many scenes.

Variant 0 of every (mesh, livery) is the original. Variant k > 0 draws, from a generator
seeded by ``(seed, stable hash of the entry id, k)``:

- ``hue_shift``: a rotation of the livery's hue by a fraction of a turn in [0.1, 0.9]
  (greys stay grey);
- ``scale``: a mild non-uniform scale (sx, sy, sz), each in [0.92, 1.08];
- ``rim``: one of the source's rim designs (TORCS: a car whose ``tex-wheel.rgb`` is used).

Values are rounded to 4 decimals before use, so meta.json holds exactly what was rendered.
"""

from __future__ import annotations

import colorsys
import zlib
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from PIL import Image

HUE_RANGE = (0.1, 0.9)
SCALE_RANGE = (0.92, 1.08)


@dataclass(frozen=True)
class Variant:
    index: int = 0
    hue_shift: float = 0.0
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    rim: str | None = None

    def to_json(self) -> dict:
        data = asdict(self)
        data["scale"] = list(self.scale)
        return data


def stable_hash(text: str) -> int:
    """A hash of `text` that is the same in every process and Python version (CRC-32)."""
    return zlib.crc32(text.encode("utf-8"))


def sample_variant(seed: int, entry_id: str, index: int, rims: Sequence[str] = ()) -> Variant:
    """Variant `index` of entry `entry_id` (index 0 is the original)."""
    if index == 0:
        return Variant()
    rng = np.random.default_rng([seed, stable_hash(entry_id), index])
    hue = round(float(rng.uniform(*HUE_RANGE)), 4)
    scale = tuple(round(float(s), 4) for s in rng.uniform(*SCALE_RANGE, size=3))
    rim = str(rims[int(rng.integers(len(rims)))]) if len(rims) else None
    return Variant(index=index, hue_shift=hue, scale=scale, rim=rim)  # type: ignore[arg-type]


def shift_hue(image: np.ndarray, shift: float) -> np.ndarray:
    """Rotate the hue of a uint8 RGB image (H, W, 3) by `shift` turns (PIL's 8-bit HSV)."""
    hsv = np.asarray(Image.fromarray(image, "RGB").convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(np.int64) + int(round(shift * 256))) % 256
    return np.asarray(Image.fromarray(hsv, "HSV").convert("RGB"))


def shift_hue_color(color: Sequence[float], shift: float) -> tuple[float, float, float]:
    """Rotate the hue of an RGB colour in [0, 1] by `shift` turns."""
    h, s, v = colorsys.rgb_to_hsv(*color)
    return colorsys.hsv_to_rgb((h + shift) % 1.0, s, v)
