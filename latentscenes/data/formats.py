"""The dataset formats `load_scenes` reads: the one list that every other place reads.

A format is a `DatasetFormat`: how to recognise a folder of it, how to list a root's scenes
and how to read one of them (cameras and image paths; pixels are decoded later, in the same
way for every format). `FORMATS` holds them in detection order; `DataConfig.format`, the
``--format`` choices of ``latentscenes data info`` and the help texts are built from it.
Adding a format is one new reader module and one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from latentscenes.data import eg3d, nerfstudio, srn
from latentscenes.data.scene import SceneFiles
from latentscenes.errors import DataError

__all__ = ["DatasetFormat", "FORMATS", "FORMAT_NAMES", "dataset_format", "detect_format", "layouts", "read_scenes"]


@dataclass(frozen=True)
class DatasetFormat:
    """One dataset format.

    layout: what a root of this format holds, for help texts and errors.
    marks: whether a folder holds this format's files (a root, or one scene of a collection).
    collection: whether the root's sub-folders may be the scenes, each marked by `marks`.
    list_scenes: the root's scenes in order (anything `read_scene` takes), nothing validated.
    read_scene: one listed scene's `SceneFiles`, cameras validated.
    """

    name: str
    layout: str
    marks: Callable[[Path], bool]
    collection: bool
    list_scenes: Callable[[Path], list[Any]]
    read_scene: Callable[[Any], SceneFiles]


# Detection order: a file that names its format (transforms.json, dataset.json) before the
# SRN layout, whose only mark is a folder called rgb/.
FORMATS: dict[str, DatasetFormat] = {
    entry.name: entry
    for entry in (
        DatasetFormat(
            "nerfstudio", "nerfstudio/Blender transforms.json",
            nerfstudio.holds_transforms, True, nerfstudio.list_nerfstudio_scenes, nerfstudio.read_transforms,
        ),
        DatasetFormat(
            "eg3d", "EG3D dataset.json",
            eg3d.holds_labels, False, eg3d.list_eg3d_scenes, eg3d.read_eg3d_scene,
        ),
        DatasetFormat(
            "srn", "SRN folders (<scene>/rgb/, <scene>/pose/, <scene>/intrinsics.txt)",
            srn.is_srn_scene, True, srn.list_srn_scenes, srn.read_srn_scene,
        ),
    )
}
FORMAT_NAMES = ("auto", *FORMATS)


def layouts() -> str:
    """What a root of each format holds, in one line (help texts and errors)."""
    return ", ".join(entry.layout for entry in FORMATS.values())


def dataset_format(name: str) -> DatasetFormat:
    """The format called `name`; `DataError` listing the known names otherwise."""
    if name not in FORMATS:
        raise DataError(f"unknown data format {name!r}; choose one of {', '.join(('auto', *FORMATS))}")
    return FORMATS[name]


def detect_format(root: str | Path) -> str:
    """The first format (in `FORMATS` order) whose files are in `root` itself, else the first
    whose scenes are `root`'s sub-folders; `DataError` when none is."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: dataset folder does not exist")
    for entry in FORMATS.values():
        if entry.marks(root):
            return entry.name
    folders = sorted(path for path in root.iterdir() if path.is_dir())
    for entry in FORMATS.values():
        if entry.collection and any(entry.marks(folder) for folder in folders):
            return entry.name
    raise DataError(f"{root}: cannot tell the dataset format: expected one of {layouts()}")


def read_scenes(root: Path, name: str, start: int = 0, count: int | None = None) -> list[SceneFiles]:
    """Scenes ``[start, start + count)`` of `root` in format `name` (cameras only, no pixels)."""
    entry = dataset_format(name)
    stop = None if count is None else start + count
    return [entry.read_scene(scene) for scene in entry.list_scenes(root)[start:stop]]
