"""A contact sheet: one view per scene in a grid, labelled with the scene index."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from latentscenes.io import atomic_path

LABEL_COLORS = {"holdout": (200, 0, 0)}  # other groups are labelled in dark grey


def contact_sheet(
    tiles: list[np.ndarray],
    labels: list[str] | None = None,
    groups: list[str] | None = None,
    tile_size: int | None = None,
) -> np.ndarray:
    """Tiles uint8 (h, w, 3) in a near-square grid -> uint8 (H, W, 3), white gaps of 2 px.

    `tile_size` resizes every tile (box filter); default: 128 px up to 256 tiles, else 64.
    Labels are written in the top-left corner of each tile; a label is red for scenes of
    the ``holdout`` group.
    """
    if not tiles:
        raise ValueError("contact_sheet needs at least one tile")
    if tile_size is None:
        tile_size = min(tiles[0].shape[0], 128 if len(tiles) <= 256 else 64)
    columns = math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / columns)
    gap = 2
    sheet = Image.new("RGB", (columns * (tile_size + gap) + gap, rows * (tile_size + gap) + gap), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for i, tile in enumerate(tiles):
        image = Image.fromarray(np.asarray(tile, dtype=np.uint8))
        if image.size != (tile_size, tile_size):
            image = image.resize((tile_size, tile_size), Image.Resampling.BOX)
        x = gap + (i % columns) * (tile_size + gap)
        y = gap + (i // columns) * (tile_size + gap)
        sheet.paste(image, (x, y))
        if labels is not None:
            group = groups[i] if groups is not None else ""
            draw.text((x + 2, y + 1), labels[i], fill=LABEL_COLORS.get(group, (60, 60, 60)))
    return np.asarray(sheet)


def write_contact_sheet(path: str | Path, tiles: list[np.ndarray], labels: list[str] | None = None,
                        groups: list[str] | None = None) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(contact_sheet(tiles, labels, groups)).save(tmp, format="PNG")
    return path
