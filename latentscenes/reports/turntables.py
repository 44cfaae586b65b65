"""`latentscenes render`: views of a run's learned scenes from new cameras, written as files.

For each chosen scene, in `OUT/<scene_id>/`:

    turntable.mp4 (or .gif)         an orbit around the scene (`cameras.turntable_cam2world`)
    turntable/0000.png ...          its frames
    turntable/depth-0000.png ...    depth maps (nearest surface white, farthest dark, empty space black)
    turntable/depth.npy             float32 (F, h, w): expected depth along each unit ray
    turntable-latent.mp4,           with `latent`: the rendered latent channels, one grey
    turntable/latent-0000.png ...   tile per channel (-1 black, +1 white)
    poses/...                       with `poses`: the same files for views from those poses

Cameras use the scene's own intrinsics, rescaled to `size`. The orbit's radius and
elevation default to the median of the scene's cameras.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from latentscenes.cameras import camera_elevation, camera_radius, scale_intrinsics, turntable_cam2world
from latentscenes.data import Scene, SceneCollection
from latentscenes.errors import LatentScenesError
from latentscenes.evaluation.renders import depth_to_uint8, latent_channels_grid, save_png, to_uint8
from latentscenes.io import atomic_path
from latentscenes.rendering.scene_views import SceneViews, render_path
from latentscenes.reports.videos import save_video


@dataclass
class TurntableSettings:
    frames: int = 36
    elevation: float | None = None  # degrees; None: the median of the scene's cameras
    radius: float | None = None  # None: the median of the scene's cameras
    size: int | None = None  # image height in pixels (width in proportion); None: the scene's
    fps: float = 12.0
    format: str = "mp4"
    latent: bool = False


def select_scenes(collection: SceneCollection, wanted: list[str]) -> list[int]:
    """Rows of the scenes named in `wanted`, each a scene id or an index into the run's scenes."""
    ids = [scene.scene_id for scene in collection.scenes]
    rows = []
    for item in wanted:
        if item in ids:
            rows.append(ids.index(item))
        elif item.lstrip("-").isdigit() and -len(ids) <= int(item) < len(ids):
            rows.append(int(item) % len(ids))
        else:
            shown = ", ".join(ids[:8]) + (", ..." if len(ids) > 8 else "")
            raise LatentScenesError(
                f"--scenes: {item!r} is neither a scene id of this run nor an index below {len(ids)} (ids: {shown})"
            )
    return rows


def view_size(scene: Scene, size: int | None) -> tuple[int, int]:
    """(H, W) of renders `size` pixels high (width in the scene's proportion), or the scene's own."""
    if size is None:
        return scene.height, scene.width
    return size, max(1, round(scene.width * size / scene.height))


def scene_cameras(scene: Scene, cam2world: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """cam2world (V, 4, 4) with the scene's first view's intrinsics rescaled to `size`: (V, 3, 3)."""
    height, width = size
    K = scale_intrinsics(scene.intrinsics[0], width / scene.width, height / scene.height)
    return cam2world.float(), K.expand(cam2world.shape[0], 3, 3)


def turntable_cameras(scene: Scene, settings: TurntableSettings) -> torch.Tensor:
    """(F, 4, 4): the orbit, at the scene's median camera radius and elevation unless set."""
    radius = settings.radius if settings.radius is not None else float(camera_radius(scene.cam2world).median())
    elevation = settings.elevation
    if elevation is None:
        elevation = float(camera_elevation(scene.cam2world).median())
    return turntable_cam2world(settings.frames, radius, elevation)


def render_scene_path(model, row: int, scene: Scene, cam2world: torch.Tensor, size: tuple[int, int]) -> SceneViews:
    """Views of bank row `row` of a run's model (RGB or latent) from the poses `cam2world`."""
    from latentscenes.models.views import render_cameras

    decoding = model.latent_decoding(scene)
    if decoding is not None and (size[0] % decoding.factor or size[1] % decoding.factor):
        raise LatentScenesError(
            f"--size: latent scenes render at sizes divisible by their autoencoder's downsampling factor "
            f"({decoding.factor}), got {size[0]}x{size[1]}"
        )
    poses, intrinsics = scene_cameras(scene, cam2world, size)
    return render_path(lambda c, k: render_cameras(model, row, scene, c, k, size), poses, intrinsics)


def write_views(folder: Path, views: SceneViews, latent: bool) -> None:
    """`NNNN.png` frames, `depth-NNNN.png` and `depth.npy`, and with `latent` (latent scenes)
    `latent-NNNN.png` channel tiles, all at the images' size. Depth maps share one grey scale
    per sequence: its nearest surface white, its farthest black (and empty space black)."""
    scale = views.images.shape[-2] // views.depth.shape[-2]  # latent scenes' depth is at the latent resolution
    near, far = depth_range(views)
    depth = depth_to_uint8(views.depth, views.opacity, near, far).repeat(scale, axis=-3).repeat(scale, axis=-2)
    for index, (frame, depth_map) in enumerate(zip(to_uint8(views.images), depth)):
        save_png(folder / f"{index:04d}.png", frame)
        save_png(folder / f"depth-{index:04d}.png", depth_map)
    with atomic_path(folder / "depth.npy") as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, views.depth.float().cpu().numpy())
    if latent and views.latents is not None:
        for index, tiles in enumerate(latent_channels_grid(views.latents, scale)):
            save_png(folder / f"latent-{index:04d}.png", tiles)


def depth_range(views: SceneViews) -> tuple[float, float]:
    """(nearest, farthest) expected depth of the rays that hit something (opacity >= 0.5),
    slightly widened so the farthest surface stays visible; (0, 1) if none does."""
    hits = views.depth[views.opacity >= 0.5]
    if hits.numel() == 0:
        return 0.0, 1.0
    near, far = float(hits.min()), float(hits.max())
    margin = max(far - near, 1e-3) * 0.1
    return near, far + margin


def render_scene_files(
    model, row: int, scene: Scene, settings: TurntableSettings, out: Path, poses: torch.Tensor | None = None
) -> list[Path]:
    """Write a scene's turntable (unless `settings.frames` is 0) and its views from `poses`
    (N, 4, 4) into `out`; returns the videos written and the folders of frames."""
    size = view_size(scene, settings.size)
    written = []
    if settings.frames:
        views = render_scene_path(model, row, scene, turntable_cameras(scene, settings), size)
        write_views(out / "turntable", views, settings.latent)
        written.append(save_video(out / "turntable", to_uint8(views.images), settings.fps, settings.format))
        if settings.latent and views.latents is not None:
            tiles = latent_channels_grid(views.latents, size[0] // views.latents.shape[-2])
            written.append(save_video(out / "turntable-latent", tiles, settings.fps, settings.format))
        written.append(out / "turntable")
    if poses is not None:
        views = render_scene_path(model, row, scene, poses, size)
        write_views(out / "poses", views, settings.latent)
        written.append(out / "poses")
    return written
