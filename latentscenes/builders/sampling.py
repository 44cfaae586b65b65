"""SRN-like cameras: on the upper hemisphere of radius ~1.3, looking at the origin, z up.

Cameras are OpenCV cam2world matrices (x right, y down, z forward; see
`latentscenes.cameras`). The image's "up" is the world's +z projected into the image, so
cars stand upright in every view.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from latentscenes.cameras import intrinsics_from_fov, look_at

RADIUS = 1.3
FOV_DEG = 52.0  # vertical field of view: focal 131.2 px at 128 px, as SRN cars
MIN_ELEVATION_DEG = 5.0
MAX_ELEVATION_DEG = 80.0


def square_intrinsics(size: int, fov_deg: float = FOV_DEG) -> np.ndarray:
    """float64 pixel intrinsics (3, 3) of a ``size`` x ``size`` image with field of view `fov_deg`."""
    return intrinsics_from_fov(math.radians(fov_deg), size, size, dtype=torch.float64).numpy()


def sample_hemisphere_cameras(
    rng: np.random.Generator,
    count: int,
    radius: float = RADIUS,
    min_elevation_deg: float = MIN_ELEVATION_DEG,
    max_elevation_deg: float = MAX_ELEVATION_DEG,
) -> np.ndarray:
    """`count` cameras uniform in area on the band ``min <= elevation <= max`` of the sphere.

    Returns OpenCV cam2world float64 (count, 4, 4), all looking at the origin. Uniform in
    area: ``sin(elevation)`` is uniform, the azimuth is uniform in [0, 2 pi).
    """
    low, high = math.sin(math.radians(min_elevation_deg)), math.sin(math.radians(max_elevation_deg))
    heights = rng.uniform(low, high, size=count)
    azimuths = rng.uniform(0.0, 2.0 * math.pi, size=count)
    ring = np.sqrt(np.maximum(0.0, 1.0 - heights * heights))
    positions = radius * np.stack([ring * np.cos(azimuths), ring * np.sin(azimuths), heights], axis=-1)
    return look_at(torch.from_numpy(positions.reshape(count, 3))).numpy()
