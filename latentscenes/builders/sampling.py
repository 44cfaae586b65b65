"""SRN-like cameras: on the upper hemisphere of radius ~1.3, looking at the origin, z up.

Cameras are OpenCV cam2world matrices (x right, y down, z forward; see
`latentscenes.cameras`). The image's "up" is the world's +z projected into the image, so
cars stand upright in every view.
"""

from __future__ import annotations

import math

import numpy as np

RADIUS = 1.3
FOV_DEG = 52.0  # vertical field of view: focal 131.2 px at 128 px, as SRN cars
MIN_ELEVATION_DEG = 5.0
MAX_ELEVATION_DEG = 80.0


def look_at(
    position: np.ndarray, target: np.ndarray = np.zeros(3), up: np.ndarray = np.array([0.0, 0.0, 1.0])
) -> np.ndarray:
    """OpenCV cam2world (4, 4) of a camera at `position` looking at `target`, `up` pointing up.

    z (forward) = normalize(target - position); x (right) = normalize(z x up); y = z x x
    (points down in the image).
    """
    position = np.asarray(position, dtype=np.float64)
    forward = np.asarray(target, dtype=np.float64) - position
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, np.asarray(up, dtype=np.float64))
    norm = np.linalg.norm(right)
    if norm < 1e-8:
        raise ValueError(f"camera at {position.tolist()} looks along the up vector {np.asarray(up).tolist()}")
    right /= norm
    down = np.cross(forward, right)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, down, forward, position
    return pose


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
    poses = []
    for height, azimuth in zip(heights, azimuths):
        ring = math.sqrt(max(0.0, 1.0 - height * height))
        position = radius * np.array([ring * math.cos(azimuth), ring * math.sin(azimuth), height])
        poses.append(look_at(position))
    return np.stack(poses) if poses else np.zeros((0, 4, 4))
