"""EG3D-style ``dataset.json``: reader and writer.

``<root>/dataset.json`` holds ``{"labels": [[relative_path, [25 numbers]], ...]}``: per
image, cam2world (16 numbers, row-major, OpenCV) followed by the **normalised**
intrinsics (9 numbers, row-major: fx/W, 0, cx/W, 0, fy/H, cy/H, 0, 0, 1).

Scenes: images are grouped into scenes by the **first path component** (folder) of their
relative path, ``"<scene_id>/<view>.png"``; images directly in the root form one scene
named after the root folder. Scenes are sorted by id; within a scene the views keep the
order of the labels list. Every image file found in a scene's folder must have a label.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Iterable

import numpy as np

from latentscenes.data.checks import check_intrinsics, parse_pose, read_json
from latentscenes.data.images import IMAGE_EXTENSIONS, write_png
from latentscenes.data.scene import Scene, SceneFiles
from latentscenes.errors import DataError
from latentscenes.io import atomic_write_json

__all__ = ["LabelGroup", "holds_labels", "list_eg3d_scenes", "read_eg3d_scene", "write_eg3d_dataset"]

FILENAME = "dataset.json"


def holds_labels(root: Path) -> bool:
    return (Path(root) / FILENAME).is_file()


@dataclass(frozen=True)
class LabelGroup:
    """One scene's entries of a dataset.json: (relative path, view name, label, where)."""

    root: Path
    path: Path
    scene_id: str
    entries: list[tuple[str, str, Any, str]]


def list_eg3d_scenes(root: Path) -> list[LabelGroup]:
    """The scenes of ``<root>/dataset.json`` sorted by id; labels are checked when read."""
    root = Path(root)
    path = root / FILENAME
    data = read_json(path)
    labels = data.get("labels") if isinstance(data, dict) else None
    if not isinstance(labels, list):
        raise DataError(f"{path}: expected {{\"labels\": [[relative_path, [25 numbers]], ...]}}")

    groups: dict[str, list[tuple[str, str, Any, str]]] = {}
    origins: dict[str, bool] = {}  # scene id -> whether its images are in a sub-folder
    for i, entry in enumerate(labels):
        where = f"{path} labels[{i}]"
        if not (isinstance(entry, (list, tuple)) and len(entry) == 2 and isinstance(entry[0], str)):
            raise DataError(f"{where}: each label must be [relative_path, [25 numbers]]")
        relative = PurePosixPath(entry[0].replace("\\", "/"))
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise DataError(f"{where}: image path must be relative to {root}, got {entry[0]!r}")
        if len(relative.parts) == 1:
            scene_id, view = root.resolve().name, relative.stem
        else:
            scene_id, view = relative.parts[0], str(PurePosixPath(*relative.parts[1:]).with_suffix(""))
        folder = len(relative.parts) > 1
        if origins.setdefault(scene_id, folder) != folder:
            raise DataError(
                f"{where}: scene name '{scene_id}' is used twice: by images directly in {root} "
                f"(named after the folder) and by the folder {root / scene_id}"
            )
        groups.setdefault(scene_id, []).append((str(relative), view, entry[1], where))

    return [LabelGroup(root, path, scene_id, groups[scene_id]) for scene_id in sorted(groups)]


def read_eg3d_scene(group: LabelGroup) -> SceneFiles:
    """One scene of a dataset.json: image paths, validated poses and intrinsics."""
    root, path = group.root, group.path
    image_paths, poses, intrinsics, names = [], [], [], []
    for relative, view, numbers, where in group.entries:
        try:
            values = np.asarray(numbers, dtype=np.float64)
        except (TypeError, ValueError):
            values = None
        if values is None or values.shape != (25,):
            raise DataError(f"{where}: camera label must be 25 numbers (16 cam2world + 9 intrinsics)")
        poses.append(parse_pose(values[:16], where))
        intrinsics.append(check_intrinsics(values[16:].reshape(3, 3), where))
        image_paths.append(root / relative)
        names.append(view)
    labelled = {p.resolve() for p in image_paths}
    for folder in sorted({p.parent for p in image_paths}):
        if folder.resolve() == root.resolve() or not folder.is_dir():
            continue
        for file in sorted(folder.iterdir()):
            if file.suffix.lower() in IMAGE_EXTENSIONS and file.resolve() not in labelled:
                raise DataError(f"{file}: image has no camera label (missing pose) in {path}")
    num_views = len(image_paths)
    return SceneFiles(
        scene_id=group.scene_id,
        image_paths=image_paths,
        cam2world=np.stack(poses),
        intrinsics=np.stack(intrinsics),
        intrinsics_size=np.ones((num_views, 2)),
        view_names=names,
        source=path,
    )


def write_eg3d_dataset(root: Path, scenes: Iterable[Scene]) -> Path:
    """Write scenes as ``<root>/<scene_id>/<view_name>.png`` + ``<root>/dataset.json``.

    Labels are ``cam2world (16) + normalised K (9)``, in full precision; returns the path
    of ``dataset.json``. Reading it back gives the scenes' cameras and images exactly.
    """
    root = Path(root)
    labels = []
    for scene in scenes:
        height, width = scene.height, scene.width
        for v, name in enumerate(scene.view_names):
            relative = f"{scene.scene_id}/{name}.png"
            write_png(root / relative, scene.images[v].numpy())
            K = scene.intrinsics[v].double().numpy().copy()
            K[0] /= width
            K[1] /= height
            pose = scene.cam2world[v].double().numpy()
            labels.append([relative, [float(x) for x in pose.reshape(16)] + [float(x) for x in K.reshape(9)]])
    path = root / FILENAME
    atomic_write_json(path, {"labels": labels})
    return path
