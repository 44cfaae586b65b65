"""Whole views of one learned scene from any cameras, for either model (RGB scenes, or
latent scenes whose renders are decoded): evaluation, turntables and reports render
through here."""

from __future__ import annotations

import torch

from latentscenes.data import Scene
from latentscenes.rendering.scene_views import SceneViews, render_scene_views


@torch.no_grad()
def render_cameras(
    model, row: int, scene: Scene, cam2world: torch.Tensor, intrinsics: torch.Tensor, size: tuple[int, int] | None = None
) -> SceneViews:
    """Views of bank row `row` (scene `scene`) of an RGB or latent scenes model from any
    cameras: cam2world (V, 4, 4), intrinsics (V, 3, 3) in pixels of images of `size` (H, W),
    by default the scene's own."""
    height, width = size or (scene.height, scene.width)
    planes = model.bank(torch.tensor([row]))
    return render_scene_views(
        planes, model.mlp, model.render_config, cam2world, intrinsics, height, width, model.latent_decoding(scene)
    )
