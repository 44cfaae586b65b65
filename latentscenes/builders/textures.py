"""Texture images of the package sources (TORCS's SGI `.rgb`, FlightGear's PNG) as the
renderer takes them: upright uint8 (h, w, 3), and a mesh's parts dressed in them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from latentscenes.builders.mesh import Mesh
from latentscenes.builders.variants import shift_hue
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


@lru_cache(maxsize=24)
def cached_texture(path: Path) -> np.ndarray:
    """`load_texture`, kept for the next variant of the same livery; read-only, as it is shared."""
    texture = load_texture(path)
    texture.flags.writeable = False
    return texture


def dress(mesh: Mesh, texture_of: Callable[[str], tuple[Path, bool]], hue_shift: float) -> Mesh:
    """`mesh` with each named part's texture: `texture_of(part name)` gives (file, is the livery's
    own); the livery's own textures are hue-shifted by `hue_shift` (0: as they are). Unnamed parts
    stay untextured."""
    parts = []
    for part in mesh.parts:
        texture = None
        if part.name:
            path, own = texture_of(part.name)
            texture = cached_texture(path)
            if own and hue_shift:
                texture = shift_hue(texture, hue_shift)
        parts.append(replace(part, texture=texture))
    return Mesh(parts)
