"""`dataset_info`: a dataset's summary (what ``latentscenes data info`` prints).

By default only cameras and image headers are read, so large datasets summarise in
seconds; ``check=True`` decodes every image too (finds corrupt files).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from latentscenes.cameras import camera_elevation, camera_radius
from latentscenes.data.images import image_size
from latentscenes.data.load import check_options, decode_scene, filter_views, intrinsics_at, read_scene_files
from latentscenes.data.scene import SceneFiles
from latentscenes.errors import DataError

__all__ = ["DatasetInfo", "dataset_info", "format_info"]


@dataclass
class DatasetInfo:
    """Summary of the views `load_scenes` would return with the same options.

    Ranges are ``(min, max)`` over every kept view of every scene. Focal lengths are in
    pixels of the loaded resolution; ``focal_normalized`` is ``fx / W``.
    """

    root: str
    format: str
    num_scenes: int
    views_per_scene: tuple[int, float, int]  # min, mean, max (after the above filter)
    total_views: int
    views_before_filter: int
    stored_resolutions: list[tuple[int, int]]  # distinct (height, width) on disk
    resolution: list[tuple[int, int]]  # distinct (height, width) once loaded
    camera_radius: tuple[float, float]
    elevation_deg: tuple[float, float]
    camera_height: tuple[float, float]
    focal_x: tuple[float, float]
    focal_y: tuple[float, float]
    focal_normalized: tuple[float, float]
    num_test_views: int
    num_val_views: int
    above: float | None
    checked_images: bool

    def to_dict(self) -> dict:
        return asdict(self)


def dataset_info(
    root: str | Path,
    *,
    size: int | None = None,
    above: float | None = None,
    num_test_views: int = 0,
    start: int = 0,
    count: int | None = None,
    format: str = "auto",
    check: bool = False,
    num_val_views: int = 0,
) -> DatasetInfo:
    """Summarise a dataset with `load_scenes`' options; validation errors are `DataError`s."""
    check_options(size, num_test_views, num_val_views)
    format, scene_files = read_scene_files(root, format=format, start=start, count=count)
    before = sum(len(files) for files in scene_files)
    kept = [filter_views(files, above, num_test_views, num_val_views) for files in scene_files]
    stored, loaded, cam2world, fx, fy, fxn = set(), set(), [], [], [], []
    for files in kept:
        if check:
            scene = decode_scene(files, size=size, num_test_views=num_test_views, num_val_views=num_val_views)
            stored.add(_stored_size(files))
            height, width = scene.height, scene.width
        else:
            height, width = _stored_size(files)
            stored.add((height, width))
            if size is not None:
                height, width = size, size
        loaded.add((height, width))
        K = intrinsics_at(files, height, width)
        fx.append(K[:, 0, 0])
        fy.append(K[:, 1, 1])
        fxn.append(K[:, 0, 0] / width)
        cam2world.append(files.cam2world)
    cams = torch.from_numpy(np.concatenate(cam2world))
    views = [len(files) for files in kept]
    return DatasetInfo(
        root=str(root),
        format=format,
        num_scenes=len(kept),
        views_per_scene=(min(views), float(np.mean(views)), max(views)),
        total_views=sum(views),
        views_before_filter=before,
        stored_resolutions=sorted(stored),
        resolution=sorted(loaded),
        camera_radius=_range(camera_radius(cams)),
        elevation_deg=_range(camera_elevation(cams)),
        camera_height=_range(cams[:, 2, 3]),
        focal_x=_range(np.concatenate(fx)),
        focal_y=_range(np.concatenate(fy)),
        focal_normalized=_range(np.concatenate(fxn)),
        num_test_views=num_test_views,
        num_val_views=num_val_views,
        above=above,
        checked_images=check,
    )


def _stored_size(files: SceneFiles) -> tuple[int, int]:
    """The (height, width) shared by all of a scene's image files (headers only)."""
    first = image_size(files.image_paths[0])
    for path in files.image_paths[1:]:
        shape = image_size(path)
        if shape != first:
            raise DataError(
                f"{path}: image is {shape[1]}x{shape[0]} but the scene's first image "
                f"{files.image_paths[0].name} is {first[1]}x{first[0]} (inconsistent image sizes)"
            )
    return first


def _range(values) -> tuple[float, float]:
    values = np.asarray(values, dtype=np.float64)
    return float(values.min()), float(values.max())


def format_info(info: DatasetInfo) -> str:
    """Human-readable lines, one fact per line."""

    def sizes(resolutions: list[tuple[int, int]]) -> str:
        return ", ".join(f"{w}x{h}" for h, w in resolutions)

    lo, mean, hi = info.views_per_scene
    filtered = ""
    if info.above is not None:
        filtered = f" (kept {info.total_views} of {info.views_before_filter} views with height > {info.above:g})"
    resolution = sizes(info.resolution)
    if info.stored_resolutions != info.resolution:
        resolution += f" (stored {sizes(info.stored_resolutions)})"
    split = ""
    if info.num_test_views or info.num_val_views:
        validation = f", the next {info.num_val_views} for validation" if info.num_val_views else ""
        split = (
            f"\nsplit:            first {info.num_test_views} views of each scene for testing{validation}, "
            "the rest for training"
        )
    focal = f"{_span(info.focal_x, '.2f')} px"
    if info.focal_y != info.focal_x:
        focal = f"fx {_span(info.focal_x, '.2f')}, fy {_span(info.focal_y, '.2f')} px"
    return (
        f"dataset:          {info.root}\n"
        f"format:           {info.format}\n"
        f"scenes:           {info.num_scenes}\n"
        f"views per scene:  min {lo}, mean {mean:.1f}, max {hi}{filtered}\n"
        f"resolution:       {resolution}\n"
        f"camera radius:    {_span(info.camera_radius, '.3f')}\n"
        f"elevation:        {_span(info.elevation_deg, '.1f')} degrees\n"
        f"camera height:    {_span(info.camera_height, '.3f')}\n"
        f"focal length:     {focal} (fx/W {_span(info.focal_normalized, '.4f')})"
        f"{split}\n"
        f"images decoded:   {'yes, all valid' if info.checked_images else 'no (headers only; --check decodes every image)'}"
    )


def _span(bounds: tuple[float, float], spec: str) -> str:
    lo, hi = bounds
    if format(lo, spec) == format(hi, spec):
        return format(lo, spec)
    return f"{format(lo, spec)} to {format(hi, spec)}"
