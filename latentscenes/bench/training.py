"""Training speed on this machine: the joint phase, latent caching and the scene bank.

- `bench_joint`: one stage-1 phase-B step (ES + DS + AE + TV, everything trains, the real
  `LatentScenes` model and `PhaseOptimizer`) on a batch of S scenes x 1 view, plus its
  split: encoder fwd+bwd, decoder fwd+bwd and latent rendering fwd+bwd per image. This is
  what the reference's "~23 s per batch of 4 with the SD-VAE at 128 px" is compared with.
- `bench_cache`: images per second encoded to posterior means without gradients (filling
  the latent cache of phase A and stage 2).
- `bench_bank`: one optimiser step of a scene bank of N scenes of which a batch touches S,
  with dense Adam versus RowAdam on sparse per-scene gradients.

Inputs are random (speed does not depend on content); timings are medians after a warm-up.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from latentscenes.autoencoder import AutoencoderConfig, build_autoencoder
from latentscenes.bench.common import random_cameras
from latentscenes.data import Scene
from latentscenes.data.batches import ViewSampler
from latentscenes.engine.optim import PhaseOptimizer
from latentscenes.evaluation.timing import median_seconds
from latentscenes.models.latent import LatentScenes
from latentscenes.models.phases import PhaseConfig
from latentscenes.recipes.catalog import named_recipe
from latentscenes.rendering.config import DecoderConfig, RenderConfig
from latentscenes.scenes import SceneBank
from latentscenes.scenes.config import TriPlaneConfig

__all__ = ["bench_joint", "bench_cache", "bench_bank"]

def paper_joint_phase() -> PhaseConfig:
    """The reference's phase B: the joint phase of the paper's stage-1 recipe."""
    return named_recipe("paper-stage1", "train").config().joint


def _random_scenes(count: int, views: int, size: int, generator: torch.Generator) -> list[Scene]:
    scenes = []
    for index in range(count):
        cam2world, intrinsics = random_cameras(views, size, generator)
        images = torch.randint(0, 256, (views, size, size, 3), generator=generator, dtype=torch.uint8)
        scenes.append(Scene(f"bench{index}", images, cam2world, intrinsics.clone(), [str(v) for v in range(views)]))
    return scenes


def bench_joint(
    preset: str = "sd",
    downsample: int = 8,
    latent_channels: int = 4,
    batch: int = 4,
    size: int = 128,
    repeats: int = 3,
    vae: str = "",
) -> dict:
    """Seconds per phase-B step on `batch` scenes x 1 view of `size` px, and its per-image split.

    Reference Tri-Plane sizes (32 channels of 64^2, micro-macro with 50 bases, 48 + 48 samples)
    and, as in the reference, no colour jitter in the AE term, so Encode-Scene and the AE term
    share one encoder pass (one encode and two decodes per image).
    Returns {"step_s", "images_per_s", "per_image": {"encoder_s", "decoder_s", "render_s"}, ...}.
    """
    generator = torch.Generator().manual_seed(0)
    ae_config = AutoencoderConfig(
        preset=preset, downsample=downsample, latent_channels=latent_channels, vae=vae,
        augment_hue=0.0, augment_saturation=0.0,
    )
    autoencoder = build_autoencoder(ae_config)
    scenes = _random_scenes(batch, 2, size, generator)
    with tempfile.TemporaryDirectory() as cache:
        model = LatentScenes(
            scenes, autoencoder, TriPlaneConfig(), DecoderConfig(), RenderConfig(), ae_config, Path(cache)
        )
        model.ensure_normalizer()
        groups = model.parameter_groups()
        joint = paper_joint_phase()
        optimizer = PhaseOptimizer(
            [{"params": groups[name], "lr": lr, "name": name} for name, lr in joint.lr.active().items()],
            model.sparse_parameters(),
        )
        sampler = ViewSampler(scenes)
        losses = joint.loss.active()
        batch_views = sampler.sample(generator, batch, 1)

        def joint_step() -> None:
            terms = model.loss_terms(batch_views, list(losses))
            total = sum(weight * terms[name] for name, weight in losses.items())
            optimizer.zero_grad()
            total.backward()
            optimizer.step()

        with FlopCounterMode(display=False) as flops:
            joint_step()  # the warm-up step, counted
        step_s, times = median_seconds(joint_step, repeats, warm_up=False)
        images = batch_views.images.flatten(0, 1)
        latents = autoencoder.encode(images, sample=False).detach()

        def encoder_step() -> None:
            autoencoder.encode(images).square().mean().backward()

        def decoder_step() -> None:
            autoencoder.decode(latents).square().mean().backward()

        def render_step() -> None:
            planes = model.bank(batch_views.scene_index)
            rendered = model.render_latents(
                planes, batch_views.cam2world, batch_views.intrinsics, size, size
            )
            rendered.square().mean().backward()

        split = {}
        for name, step in (("encoder_s", encoder_step), ("decoder_s", decoder_step), ("render_s", render_step)):
            seconds, _ = median_seconds(step, repeats)
            split[name] = seconds / batch
            optimizer.zero_grad()
    return {
        "preset": preset if not vae else vae,
        "downsample": autoencoder.downsample_factor,
        "latent_channels": autoencoder.latent_channels,
        "batch": batch,
        "size": size,
        "threads": torch.get_num_threads(),
        "autoencoder_parameters": sum(p.numel() for p in autoencoder.parameters()),
        "step_s": step_s,
        "images_per_s": batch / step_s,
        "gflop_per_step": flops.get_total_flops() / 1e9,
        "gflop_per_s": flops.get_total_flops() / 1e9 / step_s,
        "times_s": times,
        "per_image": split,
    }


@torch.no_grad()
def bench_cache(
    preset: str = "sd",
    downsample: int = 8,
    latent_channels: int = 4,
    batch: int = 16,
    size: int = 128,
    repeats: int = 3,
    vae: str = "",
) -> dict:
    """Images per second encoded to posterior means (no gradients), `batch` images per call."""
    config = AutoencoderConfig(preset=preset, downsample=downsample, latent_channels=latent_channels, vae=vae)
    autoencoder = build_autoencoder(config).eval()
    images = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    seconds, times = median_seconds(lambda: autoencoder.encode(images, sample=False), repeats)
    return {"batch": batch, "size": size, "seconds": seconds, "images_per_s": batch / seconds, "times_s": times}


def bench_bank(num_scenes: int = 1000, scenes_per_batch: int = 16, sparse: bool = True, repeats: int = 5) -> dict:
    """Seconds per optimiser step of a reference-size micro-macro bank of `num_scenes` scenes
    (gather `scenes_per_batch` scenes, a loss, backward, step), with RowAdam on sparse
    per-scene gradients or dense Adam; and the bank's size in MB (optimiser moments add 2x)."""
    generator = torch.Generator().manual_seed(0)
    bank = SceneBank(num_scenes, TriPlaneConfig(sparse_grad=sparse), generator)
    groups = [
        {"params": bank.plane_parameters(), "lr": 1e-2, "name": "planes"},
        {"params": [bank.weights, bank.bias], "lr": 1e-2, "name": "weights"},
        {"params": [bank.bases], "lr": 1e-2, "name": "bases"},
    ]
    optimizer = PhaseOptimizer(groups, bank.sparse_parameters())

    def step() -> None:
        index = torch.randint(num_scenes, (scenes_per_batch,), generator=generator)
        loss = bank(index).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    seconds, times = median_seconds(step, repeats)
    megabytes = sum(p.numel() * p.element_size() for p in bank.parameters()) / 2**20
    return {
        "num_scenes": num_scenes,
        "scenes_per_batch": scenes_per_batch,
        "sparse": sparse,
        "step_s": seconds,
        "bank_mb": megabytes,
        "times_s": times,
    }
