"""Tri-Plane scenes learned in an autoencoder's latent space (the method).

A scene renders a latent image of c channels at the latent resolution (h, w) = (H, W) / f
with the intrinsics scaled by 1/f. The colour head's [0, 1] output maps to the
normalised latent range by `z_n = 2 c - 1` and is composited over the normalised latent
of a white image. Losses (all MSE; `latentscenes.models.phases` lists them):

    es = |norm(E(x)) - R(T_s, pose)|^2          Encode-Scene (whole latent images, or the latent
                                                 pixels under `rays_per_view` random pixels)
    ds = |D(denorm(R(T_s, pose))) - x|^2        Decode-Scene
    (with a phase's `crop`, both on one random crop per view: the crop's latent pixels are
    rendered and decoded alone, the decoder seeing crops as it did when trained on crops)
    ae = |D(E(aug(x))) - aug(x)|^2 + kl_w KL     autoencoder reconstruction (aug: colour jitter,
                                                 optionally a random crop)
    eq = |D(T(E(aug(x)))) - T(aug(x))|^2        latent equivariance (T: a small random warp),
                                                 from the same encoding as `ae`
    tv = plane total variation

Random numbers (colour jitter, posterior samples, ray jitter) come from torch's global
generator, which checkpoints save and restore. What a phase's losses compare against is
prepared once when the phase starts and passed to every step (`PhaseTargets`): while the
encoder is frozen, `norm(E(x))` comes from a table of cached posterior means
(`LatentCache`, keyed by the encoder's weights) and the white background's latent is
computed once; when the encoder trains both are computed per batch, with gradients, and
`norm(E(x))` is shared with the AE term when that term sees the images unchanged (as in
the reference: one encoder and two decoder passes per image).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from latentscenes.autoencoder import (
    LatentAutoencoder,
    LatentCache,
    augment_colours,
    autoencoder_losses,
    images_to_model,
    random_crops,
)
from latentscenes.autoencoder.config import AutoencoderConfig
from latentscenes.autoencoder.equivariance import equivariance_loss, random_similarity
from latentscenes.autoencoder.normalize import StandardizeNormalizer
from latentscenes.autoencoder.sensitivity import decoder_metric, metric_factor
from latentscenes.cameras import scale_intrinsics
from latentscenes.data import Scene
from latentscenes.data.batches import ViewBatch
from latentscenes.errors import ConfigError
from latentscenes.models.phases import Phase
from latentscenes.models.views import render_cameras
from latentscenes.parallel import current_world, sum_over_processes
from latentscenes.rendering.config import DecoderConfig, RenderConfig
from latentscenes.rendering.decoder import TriPlaneDecoder
from latentscenes.rendering.rays import camera_rays
from latentscenes.rendering.renderer import TriPlaneField, render_rays, render_views
from latentscenes.rendering.scene_views import LatentDecoding
from latentscenes.rendering.triplane import total_variation
from latentscenes.scenes import SceneBank
from latentscenes.scenes.config import TriPlaneConfig

METRIC_VIEWS = 8  # training views the decoder's metric is estimated on (es_weights=decoder)


@dataclass(frozen=True)
class PhaseTargets:
    """What a phase's latent losses read, prepared when the phase starts
    (`LatentScenes.start_phase`). `latents`: per scene the normalised latents of its
    training views (V_train, c, h, w), or None to encode each batch (the encoder trains).
    `background`: the white image's normalised latent (c,), or None to encode it per batch.
    `es_factor`: L (c, c) of Encode-Scene weighted by the decoder (`es_weights=decoder`), or
    None for the plain mean square."""

    latents: list[torch.Tensor] | None = None
    background: torch.Tensor | None = None
    es_factor: torch.Tensor | None = None


class LatentScenes(nn.Module):
    """N scenes' Tri-Planes, the shared MLP (C -> 1 + c) and the autoencoder."""

    def __init__(
        self,
        scenes: list[Scene],
        autoencoder: LatentAutoencoder,
        planes: TriPlaneConfig,
        mlp: DecoderConfig,
        render_config: RenderConfig,
        ae_config: AutoencoderConfig,
        cache_folder: Path,
    ):
        super().__init__()
        self._smallest_side = min(min(scene.height, scene.width) for scene in scenes) if scenes else None
        if scenes:
            check_crop("autoencoder.train_crop", ae_config.train_crop, autoencoder.downsample_factor, self._smallest_side)
        self.scenes = scenes
        self.autoencoder = autoencoder
        self.bank = SceneBank(len(scenes), planes)
        self.mlp = TriPlaneDecoder(planes.channels, autoencoder.latent_channels, mlp)
        self.render_config = render_config
        self.ae_config = ae_config
        self.cache = LatentCache(cache_folder)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {
            **self.bank.parameter_groups(),
            "mlp": list(self.mlp.parameters()),
            "encoder": self.autoencoder.encoder_parameters(),
            "decoder": self.autoencoder.decoder_parameters(),
        }

    def sparse_parameters(self) -> list[nn.Parameter]:
        return self.bank.sparse_parameters()

    def check_phases(self, phases: list[Phase]) -> None:
        """`ConfigError` naming the key of the first phase whose `crop` does not fit these
        scenes' images or the latent grid (checked before any training, and again per phase)."""
        if not self.scenes:
            return
        for phase in phases:
            check_crop(f"{phase.name}.crop", phase.config.crop, self.autoencoder.downsample_factor, self._smallest_side)

    def start_phase(self, phase: Phase) -> PhaseTargets:
        """Fit the latent normaliser if it is not yet; while the encoder is frozen, encode the
        training views (into the latent cache) and the white background once for the phase."""
        self.check_phases([phase])
        needs_latents = phase.config.loss.es > 0 or phase.config.loss.ds > 0
        if needs_latents:
            self.ensure_normalizer()
        if phase.config.lr.encoder > 0 or not needs_latents:
            return PhaseTargets(es_factor=self._es_factor(phase, None))
        size = (self.scenes[0].height, self.scenes[0].width)
        latents = self.cached_latents() if phase.config.loss.es > 0 else None
        return PhaseTargets(latents, self.autoencoder.latent_background(size), self._es_factor(phase, latents))

    def _es_factor(self, phase: Phase, latents: list[torch.Tensor] | None) -> torch.Tensor | None:
        """The phase's Encode-Scene weighting by the decoder's metric, estimated on up to
        METRIC_VIEWS training views spread over the scenes (from `latents` when cached)."""
        config = phase.config
        if config.loss.es == 0 or config.es_weights == "uniform":
            return None
        per_scene = math.ceil(METRIC_VIEWS / len(self.scenes))
        if latents is None:
            with torch.no_grad():
                views = [torch.as_tensor(s.images[s.split("train")][:per_scene]) for s in self.scenes]
                sample = self.autoencoder.encode_normalized(images_to_model(torch.cat(views)[:METRIC_VIEWS]), sample=False)
        else:
            sample = torch.cat([scene[:per_scene] for scene in latents])[:METRIC_VIEWS]
        generator = torch.Generator().manual_seed(0)  # the same metric on resume; the global generator untouched
        metric = decoder_metric(self.autoencoder.decode_normalized, sample, generator=generator)
        return metric_factor(metric, config.es_floor)

    def ensure_normalizer(self) -> None:
        """Fit a 'standardize' normaliser on the training views' latents, once."""
        if not self.normalizer_ready():
            latents = self.cache.get_or_compute(self.autoencoder, self._train_views())
            across = sum_over_processes(current_world())  # under torchrun: every process's scenes
            self.autoencoder.normalizer.fit(torch.cat(list(latents.values())), across=across)

    @torch.no_grad()
    def cached_latents(self) -> list[torch.Tensor]:
        """Normalised posterior means of the training views of every scene: per scene
        (V_train, c, h, w), row i for view `first_train_view + i` (held-out views are never
        encoded: their cost would count as training time)."""
        raw = self.cache.get_or_compute(self.autoencoder, self._train_views())
        return [self.autoencoder.normalizer.normalize(raw[s.scene_id]) for s in self.scenes]

    def loss_terms(
        self, batch: ViewBatch, names: list[str], prepared: PhaseTargets = PhaseTargets(), planes: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Unweighted loss terms `names` on `batch`; `prepared`: what `start_phase` returned
        (by default nothing is cached: every target is encoded from the batch). `planes` (S, 3,
        C, R, R): the batch's scenes' planes, by default gathered from the bank (a learned
        start passes the planes it predicts)."""
        terms: dict[str, torch.Tensor] = {}
        shared = self._shares_encoding(names, prepared)
        posterior = self.autoencoder.posterior(_flat_images(batch)) if shared else None
        background = prepared.background
        if background is None and ("es" in names or "ds" in names):
            background = self.autoencoder.latent_background((batch.height, batch.width))
        rendered = None
        if "es" in names or "ds" in names or "tv" in names:
            planes = self.bank(batch.scene_index) if planes is None else planes
            if "tv" in names:
                terms["tv"] = total_variation(planes)
            whole_latents = "ds" in names or ("es" in names and batch.pixels is None)
            window = self._crop_window(batch) if whole_latents and batch.crop else None
            if window is not None:
                rendered = self._render_window(planes, batch, window, background)  # (S*V, c, k, k)
            elif whole_latents:
                rendered = self.render_latents(
                    planes, batch.cam2world, batch.intrinsics, batch.height, batch.width, background=background
                )
                rendered = rendered.flatten(0, 1)  # (S*V, c, h, w)
        if "es" in names:
            targets = self._latent_targets(batch, prepared, posterior)
            if rendered is None:
                terms["es"] = self._encode_scene_on_rays(planes, batch, targets, background, prepared.es_factor)
            else:
                error = (rendered - _crop(targets, window, 1)).movedim(1, -1)  # (S*V, k, k, c)
                terms["es"] = _weighted_square(error, prepared.es_factor)
        if "ds" in names:
            images = _crop(_flat_images(batch), window, self.autoencoder.downsample_factor)
            terms["ds"] = (self.autoencoder.decode_normalized(rendered) - images).square().mean()
        if "ae" in names or "eq" in names:
            terms.update(self._autoencoder_terms(_flat_images(batch), posterior, names))
        return terms

    def _shares_encoding(self, names: list[str], prepared: PhaseTargets) -> bool:
        """Whether Encode-Scene's targets and the AE terms (`ae`, `eq`) come from one encoder
        pass: both are on, the encoder trains (no cached latents) and the AE terms see the
        images unchanged (no crop, no colour jitter). Saves one encoder forward and backward
        per image."""
        config = self.ae_config
        unchanged = not config.train_crop and config.augment_hue == 0 and config.augment_saturation == 0
        return "es" in names and ("ae" in names or "eq" in names) and prepared.latents is None and unchanged

    def _autoencoder_terms(self, images: torch.Tensor, posterior, names: list[str]) -> dict[str, torch.Tensor]:
        """`ae` and/or `eq` from one encoding of the (augmented) images."""
        config = self.ae_config
        if posterior is None:
            images = random_crops(images, config.train_crop) if config.train_crop else images
            images = augment_colours(images, hue=config.augment_hue, saturation=config.augment_saturation)
            posterior = self.autoencoder.posterior(images)
        terms = {}
        if "ae" in names:
            terms["ae"] = autoencoder_losses(self.autoencoder, images, kl_weight=config.kl_weight, posterior=posterior)["total"]
        if "eq" in names:
            warps = random_similarity(images.shape[0])
            terms["eq"] = equivariance_loss(self.autoencoder.decode, posterior.sample(), images, warps)
        return terms

    def _encode_scene_on_rays(
        self, planes: torch.Tensor, batch: ViewBatch, targets: torch.Tensor, background: torch.Tensor,
        factor: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """ES on the latent pixels under the batch's random image pixels: each image pixel
        (y, x) maps to latent pixel (y // f, x // f), so latent pixels are drawn uniformly. The
        ray goes through the latent pixel's centre, or with `subpixel_rays` through the image
        pixel itself (one of the f x f positions of the latent pixel's footprint)."""
        height, width = batch.height, batch.width
        c, h, w = self.autoencoder.latent_shape(height, width)
        f = height // h
        latent_pixels = (batch.pixels // width // f) * w + (batch.pixels % width) // f  # (S, V, R)
        if self.render_config.subpixel_rays:
            rays = camera_rays(batch.cam2world, batch.intrinsics, height, width, batch.pixels)
        else:
            intrinsics = scale_intrinsics(batch.intrinsics, w / width, h / height)
            rays = camera_rays(batch.cam2world, intrinsics, h, w, latent_pixels)
        rendered = self._render_rays(planes, rays, background)  # (S, V*R, c)
        targets = targets.flatten(2)  # (S*V, c, h*w)
        index = latent_pixels.flatten(0, 1)[:, None, :].expand(-1, c, -1)  # (S*V, c, R)
        targets = torch.gather(targets, 2, index).transpose(1, 2).reshape(rendered.shape)
        return _weighted_square(rendered - targets, factor)

    def _render_rays(self, planes: torch.Tensor, rays, background: torch.Tensor) -> torch.Tensor:
        """Normalised latents (S, V*R, c) in [-1, 1] along rays (S, V, R) of S scenes, over
        the normalised latent `background` (c,)."""
        s = planes.shape[0]
        out = render_rays(
            TriPlaneField(planes, self.mlp, self.render_config), rays.origins.reshape(s, -1, 3),
            rays.directions.reshape(s, -1, 3), self.render_config, (background + 1) / 2,
        )
        return out.image * 2 - 1

    def _crop_window(self, batch: ViewBatch) -> tuple[torch.Tensor, torch.Tensor, int]:
        """The batch's crops on the latent grid: top rows and left columns (S*V,) in latent
        pixels and the side k (latent pixels) of each crop."""
        height, width = batch.height, batch.width
        _, h, w = self.autoencoder.latent_shape(height, width)
        k = batch.crop // (height // h)
        at = batch.crop_at.flatten(0, 1)  # (S*V, 2)
        top = (at[:, 0] * (h - k + 1)).long()
        left = (at[:, 1] * (w - k + 1)).long()
        return top, left, k

    def _render_window(self, planes: torch.Tensor, batch: ViewBatch, window, background: torch.Tensor) -> torch.Tensor:
        """Normalised latent crops (S*V, c, k, k) in [-1, 1]: only the window's latent pixels are rendered."""
        top, left, k = window
        c, h, w = self.autoencoder.latent_shape(batch.height, batch.width)
        offsets = torch.arange(k)
        rows = top[:, None, None] + offsets[None, :, None]  # (S*V, k, 1)
        cols = left[:, None, None] + offsets[None, None, :]  # (S*V, 1, k)
        s, v = batch.views.shape
        latent_pixels = (rows * w + cols).reshape(s, v, k * k)
        intrinsics = scale_intrinsics(batch.intrinsics, w / batch.width, h / batch.height)
        rays = camera_rays(batch.cam2world, intrinsics, h, w, latent_pixels)
        return self._render_rays(planes, rays, background).reshape(s * v, k, k, c).permute(0, 3, 1, 2)

    def render_latents(
        self,
        planes: torch.Tensor,
        cam2world: torch.Tensor,
        intrinsics: torch.Tensor,
        height: int,
        width: int,
        deterministic: bool = False,
        background: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Normalised latent images of S scenes x V views: (S, V, c, h, w) in [-1, 1].

        planes (S, 3, C, R, R); cam2world (S, V, 4, 4); intrinsics (S, V, 3, 3) in pixels of
        the H x W images, rescaled to the latent resolution here; background (c,): the
        normalised latent behind the scene (by default the white image's)."""
        c, h, w = self.autoencoder.latent_shape(height, width)
        config = replace(self.render_config, deterministic=deterministic) if deterministic else self.render_config
        if background is None:
            background = self.autoencoder.latent_background((height, width))
        background = (background + 1) / 2
        out = render_views(
            planes, self.mlp, cam2world, scale_intrinsics(intrinsics, w / width, h / height),
            h, w, config, background.view(c, 1, 1),
        )
        return out.image * 2 - 1

    def normalizer_ready(self) -> bool:
        normalizer = self.autoencoder.normalizer
        return not isinstance(normalizer, StandardizeNormalizer) or bool(normalizer.fitted)

    def latent_decoding(self, scene: Scene) -> LatentDecoding:
        """How renders of `scene` become images: composited over the white latent of the
        scene's own image size (what it was learned over, whatever size it is rendered at)
        and decoded by the autoencoder. Fits the normaliser first if no phase has (a run
        that only warmed up the autoencoder)."""
        self.ensure_normalizer()
        background = self.autoencoder.latent_background((scene.height, scene.width))
        return LatentDecoding(background, self.autoencoder.downsample_factor, self.autoencoder.decode_normalized)

    @torch.no_grad()
    def render_images(self, row: int, scene: Scene, views: torch.Tensor) -> torch.Tensor:
        """Decoded renders of bank row `row`: (V, 3, H, W) in [-1, 1]."""
        return render_cameras(self, row, scene, scene.cam2world[views], scene.intrinsics[views]).images

    def _latent_targets(self, batch: ViewBatch, prepared: PhaseTargets, posterior=None) -> torch.Tensor:
        """Normalised latents (S*V, c, h, w) of the batch's views: from the cache, the shared
        posterior, or by encoding the images."""
        if prepared.latents is not None:
            rows = zip(batch.scene_index.tolist(), batch.views)
            return torch.cat([prepared.latents[row][views - self.scenes[row].first_train_view] for row, views in rows])
        if posterior is not None:
            return self.autoencoder.normalizer.normalize(posterior.mean)
        return self.autoencoder.encode_normalized(_flat_images(batch), sample=False)

    def _train_views(self):
        return ((s.scene_id, s.images[s.split("train")]) for s in self.scenes)


def _weighted_square(error: torch.Tensor, factor: torch.Tensor | None) -> torch.Tensor:
    """Mean of |L^T d|^2 / c over the latent errors d, the last axis of `error` (..., c); the
    plain mean square when `factor` L is None."""
    return (error if factor is None else error @ factor).square().mean()


def _flat_images(batch: ViewBatch) -> torch.Tensor:
    """(S*V, 3, H, W) in [-1, 1]; converted from uint8 on first use, once per batch."""
    return batch.images.flatten(0, 1)


def _crop(images: torch.Tensor, window, scale: int) -> torch.Tensor:
    """(B, C, k*scale, k*scale) windows of images (B, C, H, W) at the latent window's
    top/left times `scale`; the images themselves when `window` is None."""
    if window is None:
        return images
    top, left, k = window
    side = k * scale
    return torch.stack(
        [image[:, t * scale : t * scale + side, l * scale : l * scale + side] for image, t, l in zip(images, top.tolist(), left.tolist())]
    )


def check_crop(key: str, crop: int, factor: int, image_side: int) -> None:
    """`ConfigError` unless `crop` (0 = off) fits images of `image_side` pixels and holds whole
    latent pixels of a `factor`x downsampling autoencoder."""
    if crop and (crop > image_side or crop % factor):
        raise ConfigError(
            f"config key '{key}' must be at most the image size ({image_side}) and a "
            f"multiple of the downsampling factor ({factor}), got {crop}"
        )
