"""Image files: read (RGBA composited on white), resize with antialiasing, write PNG.

Images are ``uint8 (H, W, 3)`` RGB numpy arrays here; `Scene` stacks them into tensors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from latentscenes.errors import DataError
from latentscenes.io import atomic_path

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) of an image file, reading only its header."""
    try:
        with Image.open(path) as image:
            width, height = image.size
    except FileNotFoundError:
        raise DataError(f"{path}: image file is missing") from None
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise DataError(f"{path}: unreadable or corrupt image ({error})") from None
    return height, width


def read_image(path: Path) -> np.ndarray:
    """Decode an image as ``uint8 (H, W, 3)`` RGB; transparency is composited on white.

    Any PIL mode works (RGB, RGBA, L, LA, P with transparency, 16-bit). Raises
    `DataError` naming the file when it is missing, truncated or not an image.
    """
    try:
        with Image.open(path) as image:
            image.load()
            return _to_rgb_on_white(image)
    except FileNotFoundError:
        raise DataError(f"{path}: image file is missing") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise DataError(f"{path}: unreadable or corrupt image ({error})") from None


def _to_rgb_on_white(image: Image.Image) -> np.ndarray:
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )
    if not has_alpha:
        return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    rgba = np.asarray(image.convert("RGBA"), dtype=np.float32)
    alpha = rgba[..., 3:4] / 255.0
    rgb = rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def resize_image(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize ``uint8 (H, W, 3)`` to ``(height, width, 3)`` with antialiasing.

    Shrinking uses PIL's BOX filter (area averaging, no aliasing, no ringing); enlarging
    uses BICUBIC. Returns the input unchanged when the size already matches.
    """
    if image.shape[:2] == (height, width):
        return image
    shrinking = height * width <= image.shape[0] * image.shape[1]
    resample = Image.Resampling.BOX if shrinking else Image.Resampling.BICUBIC
    resized = Image.fromarray(image).resize((width, height), resample=resample)
    return np.asarray(resized, dtype=np.uint8).copy()


def write_png(path: Path, image: np.ndarray) -> None:
    """Write ``uint8 (H, W, 3)`` (or (H, W, 4)) as a lossless PNG, atomically."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"expected uint8 (H, W, 3|4) image, got {image.dtype} {image.shape}")
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")
