"""The SRN / ShapeNet layout: reader and writer.

Layout, one folder per scene::

    <root>/<scene_id>/rgb/<view>.png       images (any PIL format; RGBA on white)
    <root>/<scene_id>/pose/<view>.txt      16 numbers: cam2world, row-major, OpenCV
    <root>/<scene_id>/intrinsics.txt       see below

``intrinsics.txt``::

    f cx cy 0.          focal length and principal point, pixels (fx = fy = f)
    0. 0. 0.            grid barycentre (unused)
    1.                  scale (unused)
    H W                 the resolution (height width) that line 1 refers to
    [0|1]               optional: 1 if the pose files hold world2cam instead

The intrinsics are rescaled from ``H x W`` to the images' resolution (and then to the
loaded one), so ``f`` written for 512-pixel renders works with 128-pixel images. When
line 4 is absent the intrinsics refer to the images' own resolution. Views are ordered by
file name; scenes by folder name. A root that itself holds ``rgb/`` is one scene.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from latentscenes.data.checks import check_intrinsics, parse_pose, positive_number
from latentscenes.data.images import IMAGE_EXTENSIONS, image_size, write_png
from latentscenes.data.scene import SceneFiles
from latentscenes.errors import DataError
from latentscenes.io import atomic_write_text

__all__ = ["write_srn_scene", "is_srn_scene", "list_srn_scenes", "read_srn_scene", "read_pose_file", "read_poses"]


def write_srn_scene(
    root: Path,
    scene_id: str,
    images: np.ndarray,
    cam2world: np.ndarray,
    intrinsics: np.ndarray,
    view_names: list[str] | None = None,
) -> Path:
    """Write one scene in the SRN layout; returns ``<root>/<scene_id>``.

    images: uint8 (V, H, W, 3) (or (V, H, W, 4) RGBA). cam2world: (V, 4, 4) OpenCV.
    intrinsics: (3, 3) pixels at the images' resolution, with fx == fy and no skew (the
    SRN format stores one focal length). view_names: V file stems, default ``000000``,
    ``000001``, ... (their sorted order is the view order when reading back).

    Numbers are written with full precision (shortest round-trip repr), images as PNG, so
    `load_scenes` returns exactly these arrays (as float32). Every file is written
    atomically; existing files of the same names are replaced.
    """
    images = np.asarray(images)
    cam2world = np.asarray(cam2world, dtype=np.float64)
    intrinsics = np.asarray(intrinsics, dtype=np.float64)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (3, 4):
        raise ValueError(f"images must be uint8 (V, H, W, 3), got {images.dtype} {images.shape}")
    num_views, height, width = images.shape[:3]
    if cam2world.shape != (num_views, 4, 4):
        raise ValueError(f"cam2world must be ({num_views}, 4, 4), got {cam2world.shape}")
    if intrinsics.shape != (3, 3):
        raise ValueError(f"intrinsics must be (3, 3), got {intrinsics.shape}")
    if intrinsics[0, 0] != intrinsics[1, 1] or intrinsics[0, 1] != 0:
        raise ValueError(
            f"SRN intrinsics hold one focal length and no skew, got fx={intrinsics[0, 0]!r}, "
            f"fy={intrinsics[1, 1]!r}, skew={intrinsics[0, 1]!r}"
        )
    if view_names is None:
        view_names = [f"{i:06d}" for i in range(num_views)]
    if len(view_names) != num_views or len(set(view_names)) != num_views:
        raise ValueError(f"need {num_views} distinct view names, got {view_names}")
    if sorted(view_names) != list(view_names):
        raise ValueError("view_names must be in sorted order: readers order views by file name")

    scene_dir = Path(root) / scene_id
    for name, image, pose in zip(view_names, images, cam2world):
        write_png(scene_dir / "rgb" / f"{name}.png", image)
        atomic_write_text(scene_dir / "pose" / f"{name}.txt", " ".join(_num(v) for v in pose.reshape(16)) + "\n")
    f, cx, cy = intrinsics[0, 0], intrinsics[0, 2], intrinsics[1, 2]
    text = f"{_num(f)} {_num(cx)} {_num(cy)} 0.\n0. 0. 0.\n1.\n{height} {width}\n"
    atomic_write_text(scene_dir / "intrinsics.txt", text)
    return scene_dir


def _num(value: float) -> str:
    return repr(float(value))


def is_srn_scene(path: Path) -> bool:
    return (path / "rgb").is_dir()


def list_srn_scenes(root: Path) -> list[Path]:
    """Scene folders under `root` (sorted by name), or ``[root]`` if it is a scene itself."""
    root = Path(root)
    if is_srn_scene(root):
        return [root]
    scenes = []
    for path in _subdirs(root):
        if is_srn_scene(path):
            scenes.append(path)
        elif (path / "pose").is_dir():
            raise DataError(f"{path}: scene has pose/ but no rgb/ folder of images")
        elif not any(path.iterdir()):
            raise DataError(f"{path}: empty scene folder (expected rgb/, pose/ and intrinsics.txt)")
    return scenes


def read_srn_scene(scene_dir: Path) -> SceneFiles:
    """One SRN scene folder: image paths, validated poses and intrinsics."""
    scene_dir = Path(scene_dir)
    images = sorted(
        (p for p in (scene_dir / "rgb").iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS),
        key=lambda p: p.name,
    )
    stems = [p.stem for p in images]
    if len(set(stems)) != len(stems):
        raise DataError(f"{scene_dir / 'rgb'}: two images share a name with different extensions")
    world2cam, f, cx, cy, ref_size = _read_intrinsics(scene_dir / "intrinsics.txt", images)
    poses = []
    for image in images:
        pose_path = scene_dir / "pose" / f"{image.stem}.txt"
        if not pose_path.is_file():
            raise DataError(f"{pose_path}: missing pose for image {image}")
        in_file = read_pose_file(pose_path)
        if len(in_file) != 1:
            raise DataError(f"{pose_path}: a view's pose file must hold one pose (16 numbers), got {len(in_file)}")
        pose = in_file[0]
        poses.append(np.linalg.inv(pose) if world2cam else pose)
    num_views = len(images)
    K = check_intrinsics(
        np.array([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]]), str(scene_dir / "intrinsics.txt")
    )
    return SceneFiles(
        scene_id=scene_dir.name,
        image_paths=images,
        cam2world=np.stack(poses) if poses else np.zeros((0, 4, 4)),
        intrinsics=np.repeat(K[None], num_views, axis=0),
        intrinsics_size=np.repeat(np.asarray(ref_size, dtype=np.float64)[None], num_views, axis=0),
        view_names=stems,
        source=scene_dir,
    )


def read_pose_file(path: Path) -> np.ndarray:
    """The poses of an SRN pose file: 16 numbers per 4x4 cam2world (row-major, OpenCV), one
    pose in SRN's own files, or several one after the other. Returns float64 (N, 4, 4)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise DataError(f"{path}: cannot read the pose file: {error.strerror or error}") from None
    try:
        values = [float(v) for v in text.split()]
    except ValueError:
        raise DataError(f"{path}: pose must be 16 numbers, got {text.strip()[:60]!r}") from None
    if not values or len(values) % 16:
        raise DataError(f"{path}: a pose file holds 16 numbers per pose (a 4x4 cam2world matrix), got {len(values)}")
    return np.stack([parse_pose(values[i : i + 16], f"{path} (pose {i // 16})") for i in range(0, len(values), 16)])


def read_poses(path: Path) -> np.ndarray:
    """cam2world poses from an SRN pose file or a folder of them (an SRN scene's `pose/`,
    files in name order). Returns float64 (N, 4, 4)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix == ".txt")
        if not files:
            raise DataError(f"{path}: no .txt pose files in this folder")
        return np.concatenate([read_pose_file(file) for file in files])
    if not path.exists():
        raise DataError(f"{path}: no such pose file or folder")
    return read_pose_file(path)


def _read_intrinsics(path: Path, images: list[Path]) -> tuple[bool, float, float, float, tuple[float, float]]:
    """(poses are world2cam, f, cx, cy, (height, width) the intrinsics refer to)."""
    if not path.is_file():
        raise DataError(f"{path}: missing intrinsics file")
    lines = [line.split() for line in path.read_text().splitlines()]
    lines = [line for line in lines if line]
    if not lines or len(lines[0]) < 3:
        raise DataError(f"{path}: line 1 must be 'f cx cy 0.' (focal length and principal point)")
    try:
        f, cx, cy = (float(v) for v in lines[0][:3])
    except ValueError:
        raise DataError(f"{path}: line 1 must be 'f cx cy 0.', got {' '.join(lines[0])!r}") from None
    f = positive_number(f, "f", str(path))
    if not (np.isfinite(cx) and np.isfinite(cy)):
        raise DataError(f"{path}: principal point must be finite, got cx={cx}, cy={cy}")
    if len(lines) >= 4:
        if len(lines[3]) != 2:
            raise DataError(f"{path}: line 4 must be 'height width', got {' '.join(lines[3])!r}")
        height = positive_number(lines[3][0], "height", str(path))
        width = positive_number(lines[3][1], "width", str(path))
    elif images:
        height, width = image_size(images[0])
    else:
        height, width = 1.0, 1.0
    world2cam = False
    if len(lines) >= 5:
        if lines[4] not in (["0"], ["1"]):
            raise DataError(f"{path}: line 5 must be 0 (cam2world poses) or 1 (world2cam), got {' '.join(lines[4])!r}")
        world2cam = lines[4] == ["1"]
    return world2cam, f, cx, cy, (float(height), float(width))


def _subdirs(root: Path) -> list[Path]:
    if not Path(root).is_dir():
        return []
    return sorted((p for p in Path(root).iterdir() if p.is_dir()), key=lambda p: p.name)
