"""Tiny deterministic multi-view datasets for tests.

The scene is analytic: a sphere ray-cast with its own numpy camera code (pixel centres at
+0.5, OpenCV cam2world), coloured by its world-space surface normal so that an image flip
or a wrong axis shows up. Projecting the sphere centre with the written cameras lands at
the centre of the sphere's silhouette; that is the convention check the loaders are
tested against.

    write_srn_dataset(tmp_path / "srn", num_scenes=2, num_views=6, size=16)
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from latentscenes.data.srn import write_srn_scene

WHITE = 255
ELEVATIONS = (-30.0, 10.0, 30.0, 50.0)  # cycled over views; -30 deg is below height -0.5 at radius 1.3


def look_at_opencv(eye: np.ndarray, target=(0.0, 0.0, 0.0), up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """float64 (4, 4) OpenCV cam2world at `eye` looking at `target` (independent of latentscenes)."""
    eye = np.asarray(eye, dtype=np.float64)
    forward = np.asarray(target, dtype=np.float64) - eye
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, np.asarray(up, dtype=np.float64))
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, down, forward, eye
    return c2w


def orbit_cameras(num_views: int, *, radius: float = 1.3, seed: int = 0) -> np.ndarray:
    """float64 (V, 4, 4) OpenCV cam2world on a sphere, looking at the origin.

    Azimuths are evenly spaced plus a seeded jitter; elevations cycle through `ELEVATIONS`.
    """
    rng = np.random.default_rng(seed)
    poses = []
    for i in range(num_views):
        azimuth = math.radians(360.0 * i / num_views + rng.uniform(-5.0, 5.0))
        elevation = math.radians(ELEVATIONS[i % len(ELEVATIONS)])
        eye = radius * np.array(
            [math.cos(elevation) * math.cos(azimuth), math.cos(elevation) * math.sin(azimuth), math.sin(elevation)]
        )
        poses.append(look_at_opencv(eye))
    return np.stack(poses)


def pinhole(size: int, fov_deg: float = 50.0) -> np.ndarray:
    """float64 (3, 3) pixel intrinsics of a centred square camera."""
    f = 0.5 * size / math.tan(math.radians(fov_deg) / 2)
    return np.array([[f, 0.0, size / 2], [0.0, f, size / 2], [0.0, 0.0, 1.0]])


def render_sphere(
    cam2world: np.ndarray,
    K: np.ndarray,
    height: int,
    width: int,
    *,
    center=(0.0, 0.0, 0.0),
    radius: float = 0.4,
    color=(200, 60, 40),
    alpha: bool = False,
) -> np.ndarray:
    """Ray-cast a sphere: uint8 (V, H, W, 3) on white, or (V, H, W, 4) with a transparent
    background when `alpha`. Colour = half `color`, half the world normal mapped to [0, 255]."""
    center = np.asarray(center, dtype=np.float64)
    j, i = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    dirs_cam = np.stack([(j - K[0, 2]) / K[0, 0], (i - K[1, 2]) / K[1, 1], np.ones_like(i)], axis=-1)
    out = []
    for c2w in np.asarray(cam2world, dtype=np.float64):
        dirs = dirs_cam @ c2w[:3, :3].T
        dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)
        offset = c2w[:3, 3] - center
        b = dirs @ offset
        disc = b * b - (offset @ offset - radius * radius)
        hit = disc > 0
        s = -b - np.sqrt(np.where(hit, disc, 0.0))
        normal = (offset + s[..., None] * dirs) / radius
        rgb = 0.5 * np.asarray(color, dtype=np.float64) + 0.5 * 255.0 * (normal + 1.0) / 2.0
        rgb = np.where(hit[..., None], rgb, WHITE)
        image = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
        if alpha:
            a = np.where(hit, 255, 0).astype(np.uint8)[..., None]
            image = np.concatenate([np.where(hit[..., None], image, 0).astype(np.uint8), a], axis=-1)
        out.append(image)
    return np.stack(out)


def scene_params(index: int, seed: int = 0) -> dict:
    """Per-scene sphere centre, radius and colour (deterministic)."""
    rng = np.random.default_rng(seed * 1000 + index)
    return {
        "center": tuple(rng.uniform(-0.1, 0.1, size=3)),
        "radius": float(rng.uniform(0.3, 0.45)),
        "color": tuple(int(c) for c in rng.integers(0, 256, size=3)),
    }


def write_srn_dataset(
    root: str | Path,
    num_scenes: int = 2,
    num_views: int = 4,
    size: int = 16,
    *,
    seed: int = 0,
    radius: float = 1.3,
) -> Path:
    """Write `num_scenes` sphere scenes x `num_views` views of `size` pixels in the SRN
    layout (scene ids ``scene_000``, ...); returns `root`."""
    root = Path(root)
    K = pinhole(size)
    for index in range(num_scenes):
        cams = orbit_cameras(num_views, radius=radius, seed=seed * 1000 + index)
        images = render_sphere(cams, K, size, size, **scene_params(index, seed))
        write_srn_scene(root, f"scene_{index:03d}", images, cams, K)
    return root


def write_transforms_json(
    folder: str | Path,
    images: np.ndarray,
    cam2world: np.ndarray,
    K: np.ndarray,
    *,
    blender: bool = False,
    extension: bool = True,
) -> Path:
    """Write a nerfstudio scene: ``images/<i>.png`` + ``transforms.json`` with OpenGL poses.

    cam2world: (V, 4, 4) **OpenCV**; converted here with an explicit axis flip. `blender`
    writes ``camera_angle_x`` (needs a centred principal point) instead of fl_x/cx/...;
    ``extension=False`` drops ``.png`` from file_path as Blender does.
    """
    from latentscenes.data.images import write_png

    folder = Path(folder)
    height, width = images.shape[1:3]
    frames = []
    for index, (image, c2w) in enumerate(zip(images, np.asarray(cam2world, dtype=np.float64))):
        write_png(folder / "images" / f"{index:04d}.png", image)
        opengl = c2w.copy()
        opengl[:3, 1] *= -1.0  # camera y: down -> up
        opengl[:3, 2] *= -1.0  # camera z: forward -> backward
        name = f"images/{index:04d}" + (".png" if extension else "")
        frames.append({"file_path": name, "transform_matrix": opengl.tolist()})
    if blender:
        data = {"camera_angle_x": 2.0 * math.atan(0.5 * width / K[0, 0]), "frames": frames}
    else:
        data = {
            "fl_x": float(K[0, 0]), "fl_y": float(K[1, 1]), "cx": float(K[0, 2]), "cy": float(K[1, 2]),
            "w": int(width), "h": int(height), "camera_model": "OPENCV", "frames": frames,
        }
    path = folder / "transforms.json"
    path.write_text(json.dumps(data, indent=1))
    return path


def silhouette_center(image: np.ndarray) -> np.ndarray:
    """(u, v) centroid of the non-white pixels of uint8 (H, W, 3), pixel centres at +0.5."""
    mask = (image != WHITE).any(axis=-1)
    rows, cols = np.nonzero(mask)
    return np.array([cols.mean() + 0.5, rows.mean() + 0.5])
