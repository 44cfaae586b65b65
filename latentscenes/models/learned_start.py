"""A learned start for new latent scenes: a small feed-forward network from a scene's cached
training-view latents and cameras to its per-scene tensors (micro planes, base weights and
bias), predicted as a residual on the mean stage-1 scene.

Back-projection (`back_project`): for each plane p with axes (a, b) (`PLANE_AXES`) and normal
axis n, a grid of r x r texel centres (the micro planes' texels: column j along a, row i
along b, as `rendering.triplane` places them) at D depths along n, all inside the box
[-box/2, box/2]^3. Each point is projected into every training view (`cameras.project`),
the view's normalised latents are sampled bilinearly there (after area-pooling them to
`pool` x `pool`, about the texels' footprint), and the samples are aggregated over the views
that see the point (in front of the camera, inside the image): their mean and standard
deviation per latent channel, and the share of views that see it. Depth goes into channels:

    features (3, D (2c + 1), r, r)

`LearnedStart` maps those features (with the texel coordinates and the plane's one-hot)
through a small convolutional net to micro-plane residuals (3, Cm, r, r), and pools its
hidden maps over texels and planes into residuals of the M base weights and the bias. The
last layers start at zero, so an untrained network predicts the mean scene exactly.

A start is saved as `start.json` (its config and what it was trained with) and
`start.safetensors` (its weights), never pickled.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from latentscenes.cameras import project, scale_intrinsics
from latentscenes.errors import ConfigError
from latentscenes.io import atomic_path, atomic_write_json
from latentscenes.rendering.triplane import PLANE_AXES

CONFIG_FILE = "start.json"
WEIGHTS_FILE = "start.safetensors"
_NORMAL = [({0, 1, 2} - set(pair)).pop() for pair in PLANE_AXES]  # z, y, x


@dataclass(frozen=True)
class LearnedStartConfig:
    """The network's shape. `micro_channels` (Cm), `micro_side` (r), `num_bases` (M) and
    `latent_channels` (c) must match the stage-1 run and the stage-2 bank it starts."""

    micro_channels: int
    micro_side: int
    num_bases: int
    latent_channels: int
    depths: int
    pool: int
    hidden: int
    blocks: int
    box: float

    @property
    def in_channels(self) -> int:
        """Back-projected channels per plane: D (2c + 1)."""
        return self.depths * (2 * self.latent_channels + 1)


def plane_points(side: int, depths: int, box: float = 2.0) -> Tensor:
    """World points of the back-projection grid: (3, D, r, r, 3). Point [p, k, i, j] has
    coordinate -box/2 + (j + 0.5) box / r on plane p's first axis, -box/2 + (i + 0.5) box / r
    on its second and -box/2 + (k + 0.5) box / D on its normal axis."""
    texel = (torch.arange(side, dtype=torch.float32) + 0.5) * box / side - box / 2
    depth = (torch.arange(depths, dtype=torch.float32) + 0.5) * box / depths - box / 2
    points = torch.zeros(3, depths, side, side, 3)
    for p, (a, b) in enumerate(PLANE_AXES):
        points[p, :, :, :, a] = texel[None, None, :]
        points[p, :, :, :, b] = texel[None, :, None]
        points[p, :, :, :, _NORMAL[p]] = depth[:, None, None]
    return points


def sample_views(latents: Tensor, cam2world: Tensor, intrinsics: Tensor, points: Tensor) -> tuple[Tensor, Tensor]:
    """Latents seen at world points from every view.

    latents (V, c, h, w); cam2world (V, 4, 4) OpenCV; intrinsics (V, 3, 3) in pixels of the
    h x w latent grid; points (P, 3). Returns samples (V, P, c), bilinear at the projected
    pixel (u, v) (pixel centres at +0.5), and a mask (V, P), 1 where the point is in front
    of the camera and projects inside the image."""
    v, c, h, w = latents.shape
    pixels, depth = project(points[None].expand(v, -1, -1), intrinsics, cam2world)  # (V, P, 2), (V, P)
    inside = (depth > 0) & (pixels[..., 0] >= 0) & (pixels[..., 0] <= w) & (pixels[..., 1] >= 0) & (pixels[..., 1] <= h)
    grid = torch.stack([pixels[..., 0] / w * 2 - 1, pixels[..., 1] / h * 2 - 1], dim=-1)  # align_corners=False
    grid = torch.where(inside[..., None], grid, torch.zeros_like(grid))
    samples = F.grid_sample(latents, grid[:, :, None, :], mode="bilinear", padding_mode="border", align_corners=False)
    return samples[..., 0].transpose(1, 2), inside.to(latents.dtype)


@torch.no_grad()
def back_project(latents: Tensor, cam2world: Tensor, intrinsics: Tensor, config: LearnedStartConfig) -> Tensor:
    """One scene's back-projected features (3, D (2c + 1), r, r) from its training views:
    latents (V, c, h, w), cam2world (V, 4, 4), intrinsics (V, 3, 3) in pixels of h x w. Per
    depth k the channels are [mean over seeing views (c), their standard deviation (c),
    share of views that see the point (1)]."""
    v, c, h, w = latents.shape
    if config.pool and (h > config.pool or w > config.pool):
        pooled = F.adaptive_avg_pool2d(latents, config.pool)
        intrinsics = intrinsics.clone()
        intrinsics[:, 0] *= pooled.shape[-1] / w
        intrinsics[:, 1] *= pooled.shape[-2] / h
        latents = pooled
    r, d = config.micro_side, config.depths
    points = plane_points(r, d, config.box).reshape(-1, 3)
    samples, mask = sample_views(latents, cam2world, intrinsics, points)  # (V, P, c), (V, P)
    seen = mask.sum(0)  # (P,)
    weight = mask / seen.clamp(min=1)
    mean = (samples * weight[..., None]).sum(0)  # (P, c)
    var = ((samples - mean) ** 2 * weight[..., None]).sum(0)
    share = (seen / v)[:, None]
    features = torch.cat([mean, var.clamp(min=0).sqrt(), share], dim=-1)  # (P, 2c + 1)
    features = features.view(3, d, r, r, 2 * c + 1).permute(0, 1, 4, 2, 3)  # (3, D, 2c+1, r, r)
    return features.reshape(3, d * (2 * c + 1), r, r)


class _Block(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.silu(self.conv1(F.silu(x))))


class LearnedStart(nn.Module):
    """features (B, 3, D (2c + 1), r, r) -> residuals of micro planes (B, 3, Cm, r, r), base
    weights (B, M) and bias (B,), all zero before training."""

    def __init__(self, config: LearnedStartConfig):
        super().__init__()
        self.config = config
        width = config.hidden
        extra = 2 + 3  # texel coordinates, plane one-hot
        self.stem = nn.Conv2d(config.in_channels + extra, width, 1)
        self.blocks = nn.Sequential(*[_Block(width) for _ in range(config.blocks)])
        self.global_in = nn.Linear(width, width)
        self.global_back = nn.Linear(width, width)
        self.micro_out = nn.Conv2d(width, config.micro_channels, 1)
        self.coeff_hidden = nn.Linear(width, width)
        self.coeff_out = nn.Linear(width, config.num_bases + 1)
        for layer in (self.micro_out, self.coeff_out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def _extra_channels(self, batch: int, dtype: torch.dtype) -> Tensor:
        """(B, 3, 5, r, r): texel coordinates (column, row in [-1, 1]) and each plane's one-hot."""
        r = self.config.micro_side
        coords = (torch.arange(r, dtype=dtype) + 0.5) * 2 / r - 1
        rows, cols = torch.meshgrid(coords, coords, indexing="ij")
        xy = torch.stack([cols, rows])[None].expand(3, -1, -1, -1)
        onehot = torch.eye(3, dtype=dtype)[:, :, None, None].expand(-1, -1, r, r)
        return torch.cat([xy, onehot], dim=1)[None].expand(batch, -1, -1, -1, -1)

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        b, p, _, r, _ = features.shape
        x = torch.cat([features, self._extra_channels(b, features.dtype)], dim=2).flatten(0, 1)  # (B*3, Cin+5, r, r)
        x = self.stem(x)
        pooled = x.view(b, p, -1, r * r).mean(dim=(1, 3))  # (B, H): every plane's texels
        x = x + self.global_back(F.silu(self.global_in(pooled))).repeat_interleave(p, 0)[:, :, None, None]
        x = self.blocks(x)
        micro = self.micro_out(F.silu(x)).view(b, p, self.config.micro_channels, r, r)
        pooled = x.view(b, p, -1, r * r).mean(dim=(1, 3))
        coeff = self.coeff_out(F.silu(self.coeff_hidden(F.silu(pooled))))  # (B, M + 1)
        return micro, coeff[:, :-1], coeff[:, -1]


def bases_fingerprint(bases: Tensor) -> str:
    """SHA-256 (first 16 hex digits) of the stage-1 base planes in float32: which stage 1 a
    start was trained through."""
    return hashlib.sha256(bases.detach().float().contiguous().numpy().tobytes()).hexdigest()[:16]


def save_learned_start(folder: str | Path, net: LearnedStart, record: dict) -> None:
    """`folder/start.json` ({"config": ..., **record}) and `folder/start.safetensors`, atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / WEIGHTS_FILE) as path:
        save_file({k: v.detach().contiguous() for k, v in net.state_dict().items()}, str(path))
    atomic_write_json(folder / CONFIG_FILE, {"config": asdict(net.config), **record})


def load_learned_start(folder: str | Path, key: str = "start") -> tuple[LearnedStart, dict]:
    """The network in `folder` and its record (`start.json` without `config`); a missing or
    unreadable start is a `ConfigError` naming the config `key`."""
    folder = Path(folder)
    if not (folder / CONFIG_FILE).is_file() or not (folder / WEIGHTS_FILE).is_file():
        raise ConfigError(
            f"config key '{key}': {folder} holds no learned start ({CONFIG_FILE} and {WEIGHTS_FILE}; "
            "made by `latentscenes start train`)"
        )
    record = json.loads((folder / CONFIG_FILE).read_text())
    try:
        config = LearnedStartConfig(**record.pop("config"))
    except (KeyError, TypeError) as error:
        raise ConfigError(f"config key '{key}': {folder / CONFIG_FILE} is not a learned start's config ({error})") from None
    net = LearnedStart(config)
    try:
        net.load_state_dict(load_file(str(folder / WEIGHTS_FILE)))
    except RuntimeError as error:
        raise ConfigError(f"config key '{key}': {folder / WEIGHTS_FILE} does not match its {CONFIG_FILE}: {error}") from None
    return net, record


def scene_features(model, latents: list[Tensor], config: LearnedStartConfig) -> Tensor:
    """Back-projected features (N, 3, D (2c + 1), r, r) of every scene of a `LatentScenes`
    `model` from `latents`, per scene its training views' normalised latents (V_train, c, h,
    w) (`LatentScenes.cached_latents`)."""
    out = []
    for scene, scene_latents in zip(model.scenes, latents):
        views = scene.split("train")
        h, w = scene_latents.shape[-2:]
        intrinsics = scale_intrinsics(scene.intrinsics[views], w / scene.width, h / scene.height)
        out.append(back_project(scene_latents, scene.cam2world[views], intrinsics, config))
    return torch.stack(out)


def check_start(net: LearnedStart, bank, fingerprint: str, record: dict, key: str = "start") -> None:
    """`ConfigError` naming `key` unless the start `net` (with its `start.json` `record`) fits
    the micro-macro `bank` it is to fill and was trained through the stage-1 bases whose
    `bases_fingerprint` is `fingerprint`."""
    config = net.config
    if not bank.config.micro_macro or bank.config.ultralight:
        raise ConfigError(f"config key '{key}': a learned start predicts micro planes and base weights; these planes have none")
    wanted = {
        "micro_channels": bank.micro.shape[2], "micro_side": bank.micro.shape[-1], "num_bases": bank.weights.shape[1],
    }
    found = {name: getattr(config, name) for name in wanted}
    if found != wanted:
        raise ConfigError(
            f"config key '{key}': the start predicts {found}, these scenes need {wanted} "
            "(set micro_resolution to the start's micro_side, or train a start for this stage 1)"
        )
    if record.get("bases_fingerprint") != fingerprint:
        raise ConfigError(
            f"config key '{key}': the start was trained through other base planes than this stage 1's "
            f"(fingerprint {record.get('bases_fingerprint')} against {fingerprint}; trained from {record.get('stage1', '?')})"
        )


@torch.no_grad()
def apply_start(model, net: LearnedStart, features: Tensor) -> None:
    """Add the start's prediction from `features` (N, 3, Cin, r, r) to every row of the bank
    of `model` (rows holding the mean stage-1 scene: `scenes.warm_start`)."""
    bank = model.bank
    micro, weights, bias = net(features)
    bank.micro.add_(micro)
    bank.weights.add_(weights)
    bank.bias.add_(bias)


class StartTraining(nn.Module):
    """What `latentscenes start train` optimises: a `LearnedStart` whose predictions for the
    scenes of a frozen `LatentScenes` (stage 1's bases and MLP, every bank row the mean
    scene) are scored by that model's own loss terms (Encode-Scene on random rays).

    Its one module group is `planes` (the per-scene planes it predicts): the loop trains
    the network at `lr.planes`. Checkpoints hold the network alone. `prepare(latents)` must
    run before the first loss (the back-projected features of every scene)."""

    def __init__(self, scenes_model, net: LearnedStart):
        super().__init__()
        self.scenes_model = scenes_model
        self.net = net
        for param in scenes_model.parameters():
            param.requires_grad_(False)
        bank = scenes_model.bank
        self._mean = {name: getattr(bank, name)[:1].detach().clone() for name in bank.per_scene_names()}
        self._features: Tensor | None = None

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"planes": list(self.net.parameters())}

    def sparse_parameters(self) -> list[nn.Parameter]:
        return []

    def state_dict(self, *args, **kwargs):
        return self.net.state_dict(*args, **kwargs)

    def load_state_dict(self, state, strict: bool = True):
        return self.net.load_state_dict(state, strict=strict)

    def start_phase(self, phase):
        prepared = self.scenes_model.start_phase(phase)
        self.features()
        return prepared

    def features(self) -> Tensor:
        """Every scene's back-projected features (N, 3, Cin, r, r), computed once."""
        if self._features is None:
            self.scenes_model.ensure_normalizer()
            self._features = scene_features(self.scenes_model, self.scenes_model.cached_latents(), self.net.config)
        return self._features

    def predict(self, rows: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Per-scene tensors of bank rows `rows` (B,): the mean scene plus the network's residuals."""
        micro, weights, bias = self.net(self.features()[rows])
        return self._mean["micro"] + micro, self._mean["weights"] + weights, self._mean["bias"] + bias

    def loss_terms(self, batch, names: list[str], prepared) -> dict[str, Tensor]:
        planes = self.scenes_model.bank.compose(*self.predict(batch.scene_index))
        return self.scenes_model.loss_terms(batch, names, prepared, planes=planes)

    @torch.no_grad()
    def render_images(self, row: int, scene, views: Tensor) -> Tensor:
        """Decoded renders (V, 3, H, W) of the scene predicted for bank row `row`."""
        bank = self.scenes_model.bank
        for name, value in zip(("micro", "weights", "bias"), self.predict(torch.tensor([row]))):
            getattr(bank, name)[row] = value[0]
        return self.scenes_model.render_images(row, scene, views)
