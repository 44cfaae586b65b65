"""In-memory multi-view scenes.

`SceneFiles` is what a reader produces: image paths and validated cameras, nothing
decoded. `load_scenes` (in `load.py`) filters and splits those views, decodes the images
and returns a `SceneCollection` of `Scene`s. Conventions are `latentscenes.cameras`':
OpenCV cam2world, pixel intrinsics of the loaded resolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from latentscenes.cameras import normalize_intrinsics
from latentscenes.errors import DataError


@dataclass
class SceneFiles:
    """One scene as read from disk, before decoding: V views.

    image_paths: V image files. cam2world: float64 (V, 4, 4), OpenCV, validated.
    intrinsics: float64 (V, 3, 3) in pixels of `intrinsics_size`. intrinsics_size:
    float64 (V, 2) = (height, width) that `intrinsics` refer to; (1, 1) means the
    intrinsics are normalised. `source` is the file that holds the cameras (named in
    errors).
    """

    scene_id: str
    image_paths: list[Path]
    cam2world: np.ndarray
    intrinsics: np.ndarray
    intrinsics_size: np.ndarray
    view_names: list[str]
    source: Path

    def __len__(self) -> int:
        return len(self.image_paths)

    def select(self, views: np.ndarray | list[int]) -> SceneFiles:
        """The subset of views `views` (int indices, in that order)."""
        views = np.asarray(views, dtype=np.int64)
        return SceneFiles(
            scene_id=self.scene_id,
            image_paths=[self.image_paths[i] for i in views],
            cam2world=self.cam2world[views],
            intrinsics=self.intrinsics[views],
            intrinsics_size=self.intrinsics_size[views],
            view_names=[self.view_names[i] for i in views],
            source=self.source,
        )


def to_model_range(values: torch.Tensor) -> torch.Tensor:
    """uint8 pixel values of any shape -> float32 in [-1, 1] (0 -> -1, 255 -> 1), the
    models' image convention."""
    return values.to(torch.float32) / 127.5 - 1.0


@dataclass
class Scene:
    """One scene's posed views, ready for models.

    images: uint8 (V, H, W, 3) RGB (transparency composited on white).
    cam2world: float32 (V, 4, 4), OpenCV (x right, y down, z forward).
    intrinsics: float32 (V, 3, 3), pixels of the loaded resolution (H, W).
    view_names: V names (file stems). The first `num_test_views` views are the test split,
    the next `num_val_views` the validation split (never fitted by the scenes, never reported:
    the views that settings and stopping are chosen on; only a phase on them may train the
    autoencoder), the rest the training split.
    """

    scene_id: str
    images: torch.Tensor
    cam2world: torch.Tensor
    intrinsics: torch.Tensor
    view_names: list[str]
    num_test_views: int = 0
    num_val_views: int = 0

    def __post_init__(self) -> None:
        v = self.images.shape[0]
        if self.images.dtype != torch.uint8 or self.images.ndim != 4 or self.images.shape[-1] != 3:
            raise ValueError(f"images must be uint8 (V, H, W, 3), got {self.images.dtype} {tuple(self.images.shape)}")
        if tuple(self.cam2world.shape) != (v, 4, 4):
            raise ValueError(f"cam2world must be ({v}, 4, 4), got {tuple(self.cam2world.shape)}")
        if tuple(self.intrinsics.shape) != (v, 3, 3):
            raise ValueError(f"intrinsics must be ({v}, 3, 3), got {tuple(self.intrinsics.shape)}")
        if len(self.view_names) != v:
            raise ValueError(f"expected {v} view names, got {len(self.view_names)}")
        if self.num_test_views < 0 or self.num_val_views < 0 or self.num_test_views + self.num_val_views > v:
            raise ValueError(
                f"num_test_views + num_val_views must be in [0, {v}], got {self.num_test_views} + {self.num_val_views}"
            )

    @property
    def num_views(self) -> int:
        return self.images.shape[0]

    @property
    def height(self) -> int:
        return self.images.shape[1]

    @property
    def width(self) -> int:
        return self.images.shape[2]

    def model_images(self, views: torch.Tensor | None = None) -> torch.Tensor:
        """Images as models see them: float32 (V', 3, H, W) in [-1, 1] (0 -> -1, 255 -> 1).

        views: optional int64 (V',) indices (e.g. ``split("train")``); default all views.
        """
        images = self.images if views is None else self.images[views]
        return to_model_range(images.permute(0, 3, 1, 2))

    @property
    def first_train_view(self) -> int:
        return self.num_test_views + self.num_val_views

    def split(self, name: Literal["train", "val", "test", "all"]) -> torch.Tensor:
        """int64 view indices: "test" = the first `num_test_views`, "val" = the next
        `num_val_views`, "train" = the rest."""
        if name == "test":
            return torch.arange(self.num_test_views, dtype=torch.int64)
        if name == "val":
            return torch.arange(self.num_test_views, self.first_train_view, dtype=torch.int64)
        if name == "train":
            return torch.arange(self.first_train_view, self.num_views, dtype=torch.int64)
        if name == "all":
            return torch.arange(self.num_views, dtype=torch.int64)
        raise ValueError(f"split must be 'train', 'val', 'test' or 'all', got {name!r}")

    def normalized_intrinsics(self) -> torch.Tensor:
        """(V, 3, 3): row 0 divided by W, row 1 by H (fx/W, cx/W, fy/H, cy/H)."""
        return normalize_intrinsics(self.intrinsics, self.width, self.height)

    def labels(self) -> torch.Tensor:
        """EG3D-style camera labels: float32 (V, 25) = cam2world (16) + normalised K (9)."""
        return torch.cat(
            [self.cam2world.reshape(-1, 16), self.normalized_intrinsics().reshape(-1, 9)], dim=1
        )


@dataclass
class SceneCollection:
    """Scenes loaded from `root` in format `format` (a name in `latentscenes.data.formats.FORMATS`)."""

    scenes: list[Scene]
    root: Path
    format: str

    def __len__(self) -> int:
        return len(self.scenes)

    def __getitem__(self, index: int) -> Scene:
        return self.scenes[index]

    def __iter__(self):
        return iter(self.scenes)

    @property
    def scene_ids(self) -> list[str]:
        return [scene.scene_id for scene in self.scenes]

    @property
    def num_views(self) -> list[int]:
        """Views per scene."""
        return [scene.num_views for scene in self.scenes]

    @property
    def resolutions(self) -> list[tuple[int, int]]:
        """Distinct (height, width) of the scenes, sorted."""
        return sorted({(scene.height, scene.width) for scene in self.scenes})

    @property
    def height(self) -> int:
        return self._resolution()[0]

    @property
    def width(self) -> int:
        return self._resolution()[1]

    def _resolution(self) -> tuple[int, int]:
        resolutions = self.resolutions
        if len(resolutions) != 1:
            sizes = ", ".join(f"{w}x{h}" for h, w in resolutions) or "none"
            raise DataError(
                f"{self.root}: scenes have different resolutions ({sizes}); load with a size"
            )
        return resolutions[0]
