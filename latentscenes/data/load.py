"""`load_scenes`: detect the format, read cameras, filter and split views, decode images.

Order of operations (each scene): read cameras -> keep views above the height threshold
-> check there are enough views for the split -> decode, composite and resize images ->
rescale intrinsics to the loaded resolution. The first `num_test_views` remaining views
are the test split.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from latentscenes.data.formats import dataset_format, detect_format, read_scenes
from latentscenes.data.images import read_image, resize_image
from latentscenes.data.scene import Scene, SceneCollection, SceneFiles
from latentscenes.errors import DataError

__all__ = ["read_scene_files", "filter_views", "decode_scene", "intrinsics_at", "load_scenes"]


def read_scene_files(
    root: str | Path, format: str = "auto", start: int = 0, count: int | None = None
) -> tuple[str, list[SceneFiles]]:
    """(format, scenes ``[start, start + count)``) with validated cameras, no pixels decoded."""
    root = Path(root)
    if format != "auto":
        dataset_format(format)  # an unknown name fails before the folder is read
    if start < 0 or (count is not None and count < 1):
        raise DataError(f"scene range must have start >= 0 and count >= 1, got start={start}, count={count}")
    if format == "auto":
        format = detect_format(root)
    elif not root.is_dir():
        raise DataError(f"{root}: dataset folder does not exist")
    scenes = read_scenes(root, format, start=start, count=count)
    if not scenes:
        what = f" from scene {start}" if start else ""
        raise DataError(f"{root}: empty dataset: no {format} scenes found{what}")
    check_scene_names(scenes)
    check_inside(root, scenes)
    return format, scenes


def check_scene_names(scenes: list[SceneFiles]) -> None:
    """Scene ids must differ, also in more than case: they name each scene's outputs
    (renders, cached latents), which would collide on a case-insensitive file system."""
    seen: dict[str, SceneFiles] = {}
    for files in scenes:
        other = seen.setdefault(files.scene_id.casefold(), files)
        if other is not files:
            raise DataError(
                f"{files.source}: scene name '{files.scene_id}' is also used by '{other.scene_id}' "
                f"({other.source}); scene names must differ (in more than case)"
            )


def check_inside(root: Path, scenes: list[SceneFiles]) -> None:
    """Every image must lie inside the dataset folder: a symlink that leaves it is refused
    (the dataset would change with files outside it)."""
    top = root.resolve()
    for files in scenes:
        for folder in {path.parent for path in files.image_paths}:
            if not folder.resolve().is_relative_to(top):
                raise DataError(f"{folder}: leads outside the dataset folder {root} (to {folder.resolve()})")
        for path in files.image_paths:
            if path.is_symlink() and not path.resolve().is_relative_to(top):
                raise DataError(f"{path}: leads outside the dataset folder {root} (to {path.resolve()})")


def filter_views(files: SceneFiles, above: float | None, num_test_views: int, num_val_views: int = 0) -> SceneFiles:
    """Keep views with camera height ``cam2world[2, 3] > above`` (all when None), then check
    that at least ``num_test_views + num_val_views + 1`` remain (one training view)."""
    if above is not None:
        files = files.select(np.nonzero(files.cam2world[:, 2, 3] > above)[0])
    needed = num_test_views + num_val_views + 1
    if len(files) < needed:
        filtered = f" above height {above:g}" if above is not None else ""
        validation = f" + {num_val_views} validation" if num_val_views else ""
        raise DataError(
            f"{files.source}: scene '{files.scene_id}' has {len(files)} views{filtered}, "
            f"but the split needs at least {needed} ({num_test_views} test{validation} + 1 training)"
        )
    return files


def decode_scene(
    files: SceneFiles,
    size: int | None = None,
    num_test_views: int = 0,
    workers: int | None = None,
    num_val_views: int = 0,
) -> Scene:
    """Decode a scene's images (RGBA on white), resize to ``size x size`` when given, and
    rescale each view's intrinsics from the resolution they refer to to the loaded one.

    All of a scene's stored images must share one size (`DataError` naming the odd one).
    """
    if not len(files):
        raise DataError(f"{files.source}: scene '{files.scene_id}' has no views")
    workers = workers or min(4, os.cpu_count() or 1)
    if workers > 1 and len(files) > 1:
        with ThreadPoolExecutor(workers) as pool:
            images = list(pool.map(read_image, files.image_paths))
    else:
        images = [read_image(path) for path in files.image_paths]
    stored = images[0].shape[:2]
    for path, image in zip(files.image_paths, images):
        if image.shape[:2] != stored:
            raise DataError(
                f"{path}: image is {image.shape[1]}x{image.shape[0]} but the scene's first image "
                f"{files.image_paths[0].name} is {stored[1]}x{stored[0]} (inconsistent image sizes)"
            )
    height, width = (size, size) if size is not None else stored
    images = [resize_image(image, height, width) for image in images]
    K = intrinsics_at(files, height, width)
    return Scene(
        scene_id=files.scene_id,
        images=torch.from_numpy(np.stack(images)),
        cam2world=torch.from_numpy(files.cam2world).to(torch.float32),
        intrinsics=torch.from_numpy(K).to(torch.float32),
        view_names=list(files.view_names),
        num_test_views=num_test_views,
        num_val_views=num_val_views,
    )


def check_options(size: int | None, num_test_views: int, num_val_views: int = 0) -> None:
    """`DataError` for a size < 1 or a negative number of test or validation views."""
    if size is not None and size < 1:
        raise DataError(f"image size must be >= 1, got {size}")
    if num_test_views < 0:
        raise DataError(f"num_test_views must be >= 0, got {num_test_views}")
    if num_val_views < 0:
        raise DataError(f"num_val_views must be >= 0, got {num_val_views}")


def intrinsics_at(files: SceneFiles, height: int, width: int) -> np.ndarray:
    """float64 (V, 3, 3) pixel intrinsics of `files` at resolution ``height x width``.

    Each view's K is scaled from the resolution it refers to by ``(W / W_ref, H / H_ref)``;
    the factor is exactly 1 when nothing was resized, so round trips stay exact.
    """
    K = files.intrinsics.copy()
    K[:, 0, :] *= (width / files.intrinsics_size[:, 1])[:, None]
    K[:, 1, :] *= (height / files.intrinsics_size[:, 0])[:, None]
    return K


def load_scenes(
    root: str | Path,
    *,
    size: int | None = None,
    above: float | None = None,
    num_test_views: int = 10,
    start: int = 0,
    count: int | None = None,
    format: str = "auto",
    num_val_views: int = 0,
) -> SceneCollection:
    """Load a multi-view dataset in memory.

    root: dataset folder. size: square output resolution (antialiased resize, intrinsics
    rescaled); None keeps the stored one. above: keep only views whose camera height
    ``cam2world[2, 3]`` exceeds it (reference: -0.5); applied before the split.
    num_test_views: the first this many remaining views of each scene are its test split
    (reference: 10); the next `num_val_views` its validation split (chosen on, never
    reported); every scene needs at least one more view to train on. start, count:
    the scene range, in the format's scene order (sorted folder names). format: "auto"
    (detected) or a name in `latentscenes.data.formats.FORMATS`.

    Raises `DataError` (one line naming the file) for anything missing or malformed.
    """
    check_options(size, num_test_views, num_val_views)
    format, scene_files = read_scene_files(root, format=format, start=start, count=count)
    selected = [filter_views(files, above, num_test_views, num_val_views) for files in scene_files]
    scenes = [
        decode_scene(files, size=size, num_test_views=num_test_views, num_val_views=num_val_views)
        for files in selected
    ]
    return SceneCollection(scenes=scenes, root=Path(root), format=format)
