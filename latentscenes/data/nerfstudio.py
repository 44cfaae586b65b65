"""nerfstudio / Blender (NeRF synthetic) ``transforms.json`` reader.

One ``transforms.json`` is one scene::

    {"fl_x": ..., "fl_y": ..., "cx": ..., "cy": ..., "w": ..., "h": ...,   # nerfstudio
     "camera_angle_x": ...,                                             # or Blender
     "frames": [{"file_path": "images/0001.png", "transform_matrix": [[...4x4...]],
                 ...optional per-frame overrides of the camera keys...}, ...]}

- ``transform_matrix`` is cam2world in the **OpenGL** convention (x right, y up, z back);
  it is converted to OpenCV with `latentscenes.cameras.opengl_to_opencv`.
- Intrinsics come from ``fl_x`` (``fl_y`` defaults to it), ``cx``/``cy`` (default the
  image centre) and ``w``/``h`` (default the image file's size), or, Blender style, from
  ``camera_angle_x`` (radians; ``camera_angle_y`` optional). Frame keys override the
  top-level ones. Lens distortion is not supported: non-zero ``k1..k4, p1, p2`` fail.
- ``file_path`` is relative to the json's folder; without an extension (Blender's
  ``./train/r_0``) ``.png`` is appended.

A root holding ``transforms.json`` is one scene named after the root folder; a root whose
sub-folders each hold one is a collection, sorted by folder name. Views keep the order of
``frames``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from latentscenes.cameras import opengl_to_opencv
from latentscenes.data.checks import check_intrinsics, parse_pose, positive_number, read_json
from latentscenes.data.images import image_size
from latentscenes.data.scene import SceneFiles
from latentscenes.errors import DataError

__all__ = ["read_transforms", "list_nerfstudio_scenes", "holds_transforms"]

FILENAME = "transforms.json"
CAMERA_KEYS = ("fl_x", "fl_y", "cx", "cy", "w", "h", "camera_angle_x", "camera_angle_y", "camera_model")
DISTORTION_KEYS = ("k1", "k2", "k3", "k4", "p1", "p2")
PINHOLE_MODELS = (None, "PINHOLE", "SIMPLE_PINHOLE", "OPENCV")


def holds_transforms(folder: Path) -> bool:
    return (Path(folder) / FILENAME).is_file()


def list_nerfstudio_scenes(root: Path) -> list[Path]:
    """The transforms.json files of `root`: its own, else its sub-folders' (sorted)."""
    root = Path(root)
    if holds_transforms(root):
        return [root / FILENAME]
    folders = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.name)
    return [p / FILENAME for p in folders if holds_transforms(p)]


def read_transforms(path: Path) -> SceneFiles:
    """One ``transforms.json``: image paths, OpenCV cam2world, pixel intrinsics."""
    path = Path(path)
    data = read_json(path)
    frames = data.get("frames") if isinstance(data, dict) else None
    if not isinstance(frames, list):
        raise DataError(f"{path}: expected a 'frames' list")
    shared = {key: data[key] for key in CAMERA_KEYS + DISTORTION_KEYS if key in data}

    image_paths, poses, intrinsics, sizes, names = [], [], [], [], []
    for i, frame in enumerate(frames):
        where = f"{path} frames[{i}]"
        if not isinstance(frame, dict) or not isinstance(frame.get("file_path"), str):
            raise DataError(f"{where}: frame needs a 'file_path' string")
        if "transform_matrix" not in frame:
            raise DataError(f"{where}: missing pose ('transform_matrix') for image {frame['file_path']!r}")
        image = _resolve_image(path.parent, frame["file_path"], where)
        opengl = parse_pose(frame["transform_matrix"], where)
        poses.append(opengl_to_opencv(torch.from_numpy(opengl)).numpy())
        camera = {**shared, **{key: frame[key] for key in CAMERA_KEYS + DISTORTION_KEYS if key in frame}}
        K, size = _intrinsics(camera, image, where)
        image_paths.append(image)
        intrinsics.append(K)
        sizes.append(size)
        names.append(image.stem)
    return SceneFiles(
        scene_id=path.parent.resolve().name,
        image_paths=image_paths,
        cam2world=np.stack(poses) if poses else np.zeros((0, 4, 4)),
        intrinsics=np.stack(intrinsics) if intrinsics else np.zeros((0, 3, 3)),
        intrinsics_size=np.asarray(sizes, dtype=np.float64).reshape(-1, 2),
        view_names=names,
        source=path,
    )


def _resolve_image(folder: Path, file_path: str, where: str) -> Path:
    candidate = folder / file_path
    if candidate.is_file():
        return candidate
    with_png = folder / (file_path + ".png")
    if not candidate.suffix and with_png.is_file():
        return with_png
    raise DataError(f"{where}: image {candidate} does not exist")


def _intrinsics(camera: dict[str, Any], image: Path, where: str) -> tuple[np.ndarray, tuple[float, float]]:
    """(K in pixels, (height, width) that K refers to)."""
    model = camera.get("camera_model")
    if model not in PINHOLE_MODELS:
        raise DataError(f"{where}: camera_model {model!r} is not supported (pinhole cameras only)")
    for key in DISTORTION_KEYS:
        if key in camera and camera[key] not in (0, 0.0, None):
            raise DataError(f"{where}: lens distortion ({key}={camera[key]}) is not supported; undistort the images first")
    if "w" in camera or "h" in camera:
        width = positive_number(camera.get("w"), "w", where)
        height = positive_number(camera.get("h"), "h", where)
    else:
        height, width = (float(v) for v in image_size(image))
    if "fl_x" in camera:
        fx = positive_number(camera["fl_x"], "fl_x", where)
        fy = positive_number(camera.get("fl_y", fx), "fl_y", where)
    elif "camera_angle_x" in camera:
        fx = 0.5 * width / math.tan(0.5 * _angle(camera, "camera_angle_x", where))
        fy = fx
        if "camera_angle_y" in camera:
            fy = 0.5 * height / math.tan(0.5 * _angle(camera, "camera_angle_y", where))
    else:
        raise DataError(f"{where}: missing intrinsics: need 'fl_x' (with cx, cy, w, h) or 'camera_angle_x'")
    cx = _number(camera.get("cx", 0.5 * width), "cx", where)
    cy = _number(camera.get("cy", 0.5 * height), "cy", where)
    K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    return check_intrinsics(K, where), (height, width)


def _angle(camera: dict[str, Any], key: str, where: str) -> float:
    angle = positive_number(camera[key], key, where)
    if angle >= math.pi:
        raise DataError(f"{where}: '{key}' is a field of view in radians and must be < pi, got {angle}")
    return angle


def _number(value: Any, name: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise DataError(f"{where}: '{name}' must be a finite number, got {value!r}")
    return float(value)
