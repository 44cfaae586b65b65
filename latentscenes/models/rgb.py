"""Tri-Plane scenes learned directly on pixels: the RGB baseline every cost ratio is measured against.

Each step renders R random rays of V views of S scenes and regresses their colours, or with
`rays_per_view=0` every pixel of those views (the paper's protocol: whole 128 x 128 images,
many times slower to a PSNR on a CPU, docs/log/benchmarks.md); `render_images` renders whole
held-out views for evaluation. Colours leave the MLP in [0, 1], are composited
over a white background and mapped to [-1, 1] (`2 c - 1`) for losses and metrics.
"""

from __future__ import annotations

import torch
from torch import nn

from latentscenes.data import Scene
from latentscenes.data.batches import ViewBatch
from latentscenes.models.phases import Phase
from latentscenes.models.views import render_cameras
from latentscenes.rendering.config import DecoderConfig, RenderConfig
from latentscenes.rendering.decoder import TriPlaneDecoder
from latentscenes.rendering.rays import camera_rays
from latentscenes.rendering.renderer import TriPlaneField, render_rays
from latentscenes.rendering.scene_views import WHITE, LatentDecoding
from latentscenes.rendering.triplane import total_variation
from latentscenes.scenes import SceneBank
from latentscenes.scenes.config import TriPlaneConfig


class RGBScenes(nn.Module):
    """N scenes' Tri-Planes (a `SceneBank`) and the shared MLP, rendering RGB."""

    def __init__(self, num_scenes: int, planes: TriPlaneConfig, mlp: DecoderConfig, render_config: RenderConfig):
        super().__init__()
        self.bank = SceneBank(num_scenes, planes)
        self.mlp = TriPlaneDecoder(planes.channels, 3, mlp)
        self.render_config = render_config

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {**self.bank.parameter_groups(), "mlp": list(self.mlp.parameters())}

    def sparse_parameters(self) -> list[nn.Parameter]:
        return self.bank.sparse_parameters()

    def start_phase(self, phase: Phase) -> None:
        """Nothing to prepare: targets are pixels."""

    def loss_terms(self, batch: ViewBatch, names: list[str], prepared: None = None) -> dict[str, torch.Tensor]:
        planes = self.bank(batch.scene_index)
        terms = {}
        if "rgb" in names:
            if batch.crop:
                raise ValueError("crop is for latent scenes' whole-image losses; the rgb loss draws rays over whole views")
            rays = camera_rays(batch.cam2world, batch.intrinsics, batch.height, batch.width, batch.pixels)
            s = planes.shape[0]
            out = render_rays(
                TriPlaneField(planes, self.mlp, self.render_config), rays.origins.reshape(s, -1, 3),
                rays.directions.reshape(s, -1, 3), self.render_config, WHITE,
            )
            prediction = out.image * 2 - 1
            targets = batch.colours if batch.pixels is not None else batch.images.permute(0, 1, 3, 4, 2)  # (S, V, H, W, 3)
            terms["rgb"] = (prediction - targets.reshape(s, -1, 3)).square().mean()
        if "tv" in names:
            terms["tv"] = total_variation(planes)
        return terms

    def latent_decoding(self, scene: Scene) -> LatentDecoding | None:
        """None: these scenes render RGB directly."""
        return None

    @torch.no_grad()
    def render_images(self, row: int, scene: Scene, views: torch.Tensor) -> torch.Tensor:
        """Whole views of bank row `row`: (V, 3, H, W) in [-1, 1], deterministic samples."""
        return render_cameras(self, row, scene, scene.cam2world[views], scene.intrinsics[views]).images
