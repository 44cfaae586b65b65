"""Batches of training views: S scenes x V views, optionally R random pixels per view.

Images stay uint8 in the scenes; a batch converts only what it uses to [-1, 1] floats:
the sampled pixels' colours, and whole images only when a loss reads `batch.images`
(Encode-Scene on cached latents never does).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch

from latentscenes.data import Scene, to_model_range


@dataclass
class ViewBatch:
    """scene_index: (S,) bank rows. views: (S, V) view indices within each scene.
    cam2world: (S, V, 4, 4). intrinsics: (S, V, 3, 3) pixels. raw_images: (S, V, H, W, 3)
    uint8, and `images` (S, V, 3, H, W) the same in [-1, 1], converted on first use.
    pixels: (S, V, R) flat pixel indices (row-major) when rays are sampled, and colours:
    (S, V, R, 3) their targets in [-1, 1]. With `crop` > 0 pixels, crop_at: (S, V, 2) in
    [0, 1) places one square crop per view (row, column; 0 = top/left edge, just below 1 =
    bottom/right edge); the model snaps it to its own grid."""

    scene_index: torch.Tensor
    views: torch.Tensor
    cam2world: torch.Tensor
    intrinsics: torch.Tensor
    raw_images: torch.Tensor
    pixels: torch.Tensor | None = None
    colours: torch.Tensor | None = None
    crop: int = 0
    crop_at: torch.Tensor | None = None

    @cached_property
    def images(self) -> torch.Tensor:
        return to_model_range(self.raw_images.permute(0, 1, 4, 2, 3))

    @property
    def height(self) -> int:
        return self.raw_images.shape[-3]

    @property
    def width(self) -> int:
        return self.raw_images.shape[-2]


class ViewSampler:
    """Draws training batches from `scenes`; scene i is bank row `bank_offset + i`.

    Scenes are visited in shuffled order without replacement: an epoch visits every scene
    once, so after any step the scenes' visit counts differ by at most one, however few
    scenes a batch holds. A batch that straddles two epochs never holds a scene twice.
    Views are drawn at random from each scene's `split` (by default the training views).
    """

    def __init__(self, scenes: list[Scene], bank_offset: int = 0):
        self.scenes = scenes
        self.bank_offset = bank_offset
        self._split_views: dict[str, list[torch.Tensor]] = {}
        self._order = torch.empty(0, dtype=torch.int64)
        self.views_of("train")

    def views_of(self, split: str) -> list[torch.Tensor]:
        """Each scene's view indices in `split`; ValueError naming a scene that has none."""
        if split not in self._split_views:
            views = [scene.split(split) for scene in self.scenes]
            for scene, indices in zip(self.scenes, views):
                if len(indices) == 0:
                    raise ValueError(f"scene {scene.scene_id} has no {split} views")
            self._split_views[split] = views
        return self._split_views[split]

    def sample(
        self,
        generator: torch.Generator,
        scenes_per_batch: int,
        views_per_scene: int,
        rays_per_view: int = 0,
        crop: int = 0,
        split: str = "train",
    ) -> ViewBatch:
        split_views = self.views_of(split)
        chosen = self._next_scenes(generator, min(scenes_per_batch, len(self.scenes)))
        views = torch.stack(
            [
                split_views[i][torch.randint(len(split_views[i]), (views_per_scene,), generator=generator)]
                for i in chosen.tolist()
            ]
        )
        batch = self.gather(chosen, views)
        if rays_per_view > 0:
            s, v, h, w, _ = batch.raw_images.shape
            pixels = torch.randint(h * w, (s, v, rays_per_view), generator=generator)
            flat = batch.raw_images.flatten(2, 3)  # (S, V, H*W, 3)
            colours = torch.gather(flat, 2, pixels.unsqueeze(3).expand(s, v, rays_per_view, 3))
            batch.colours = to_model_range(colours)
            batch.pixels = pixels
        if crop > 0:
            batch.crop = crop
            batch.crop_at = torch.rand((len(chosen), views_per_scene, 2), generator=generator)
        return batch

    def gather(self, scene_positions: torch.Tensor, views: torch.Tensor) -> ViewBatch:
        """Batch for scenes at `scene_positions` (S,) in this sampler and `views` (S, V)."""
        scenes = [self.scenes[i] for i in scene_positions.tolist()]
        return ViewBatch(
            scene_index=scene_positions + self.bank_offset,
            views=views,
            cam2world=torch.stack([s.cam2world[v] for s, v in zip(scenes, views)]),
            intrinsics=torch.stack([s.intrinsics[v] for s, v in zip(scenes, views)]),
            raw_images=torch.stack([s.images[v] for s, v in zip(scenes, views)]),
        )

    def state(self) -> torch.Tensor:
        return self._order.clone()

    def load_state(self, order: torch.Tensor) -> None:
        self._order = order.clone()

    def _next_scenes(self, generator: torch.Generator, count: int) -> torch.Tensor:
        if len(self._order) < count:
            fresh = torch.randperm(len(self.scenes), generator=generator)
            self._order = torch.cat([self._order, _defer(fresh, self._order, count - len(self._order))])
        chosen, self._order = self._order[:count], self._order[count:]
        return chosen


def _defer(epoch: torch.Tensor, tail: torch.Tensor, head: int) -> torch.Tensor:
    """`epoch` (a permutation) reordered so that its first `head` entries, which share a batch
    with `tail` (the previous epoch's unvisited end), avoid the scenes in `tail`; the other
    entries keep their order. Needs head <= len(epoch) - len(tail)."""
    first = epoch[~torch.isin(epoch, tail)][:head]
    return torch.cat([first, epoch[~torch.isin(epoch, first)]])
