"""Texture images of the package sources (TORCS's SGI `.rgb`, FlightGear's PNG) as the
renderer takes them: upright uint8 (h, w, 3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from latentscenes.errors import DataError

GLASS = np.array([28, 32, 40])  # what see-through texels (alpha < 1) are drawn over


def load_texture(path: Path) -> np.ndarray:
    """An SGI/PNG texture as upright uint8 (h, w, 3); see-through texels drawn over dark glass."""
    try:
        with Image.open(path) as image:
            image.load()
            rgba = np.asarray(image.convert("RGBA"))
    except (OSError, ValueError, SyntaxError) as error:
        raise DataError(f"{path}: cannot read texture image: {error}") from None
    alpha = rgba[..., 3:].astype(np.uint32)
    rgb = rgba[..., :3].astype(np.uint32) * alpha + GLASS.astype(np.uint32) * (255 - alpha)
    return ((rgb + 127) // 255).astype(np.uint8)
