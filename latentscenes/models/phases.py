"""The vocabulary of training phases. A stage (`latentscenes.recipes`) is an ordered list of
phases, each saying which losses apply (their weights), which modules train (their
learning rates; 0 freezes a module) and how batches are drawn. One loop
(`latentscenes.engine.loop`) runs any list of phases on a model that names its parameters by
these module groups and computes these loss terms.

The module groups (`MODULE_GROUPS`) and the losses (`LOSSES`, all MSE;
`RGBScenes.loss_terms` computes `rgb`, `LatentScenes.loss_terms` the others) are listed below
with what each means; `LearningRates` and `LossWeights` have one field for each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, make_dataclass, replace
from typing import Literal

from latentscenes.config import option

MODULE_GROUPS = {
    "planes": "per-scene planes: micro planes with micro-macro, whole planes otherwise",
    "weights": "per-scene mixing weights and biases of the bases (micro-macro only)",
    "bases": "shared base planes (micro-macro only)",
    "mlp": "shared Tri-Plane decoder MLP",
    "encoder": "autoencoder encoder",
    "decoder": "autoencoder decoder",
}
LOSSES = {
    "rgb": "RGB ray loss: rendered RGB rays vs pixels (the RGB Tri-Plane baseline)",
    "es": "Encode-Scene: rendered latent image vs normalised encoded image",
    "ds": "Decode-Scene: decoded rendered latent vs image",
    "ae": "autoencoder reconstruction, D(E(x)) vs x",
    "eq": "latent equivariance, D(T(E(x))) vs T(x) for small random warps T (decoding resampled latents, "
    "as renders are; latentscenes.autoencoder.equivariance)",
    "tv": "total variation of the batch's planes",
}


class _Weights:
    def active(self) -> dict[str, float]:
        """The positive entries: the losses that apply, or the module groups that train."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) > 0}


def _weights_class(name: str, doc: str, entries: dict[str, str], suffix: str) -> type:
    """A config dataclass with one non-negative float field per entry, 0 by default."""
    specs = [(key, float, option(0.0, f"{meaning}{suffix}", min=0.0)) for key, meaning in entries.items()]
    return make_dataclass(name, specs, bases=(_Weights,), namespace={"__doc__": doc, "__module__": __name__})


LossWeights = _weights_class("LossWeights", "Weight of each loss term (0: off).", LOSSES, " (weight)")
LearningRates = _weights_class(
    "LearningRates", "Adam learning rate of each module group (0 freezes it).", MODULE_GROUPS, " (0 freezes)"
)


@dataclass
class PhaseConfig:
    steps: int = option(0, "optimisation steps in this phase (0 skips the phase)", min=0)
    scenes_per_batch: int = option(4, "scenes in one batch", min=1)
    views_per_scene: int = option(4, "views per scene in one batch", min=1)
    rays_per_view: int = option(
        0,
        "random rays per view (0 = whole images, every pixel once): RGB rays, or for Encode-Scene the latent "
        "pixels under them (whole latent images whenever Decode-Scene is on)",
        min=0,
    )
    crop: int = option(
        0,
        "latent scenes: one random square crop of this many image pixels per view (0 = whole images) for "
        "the whole-image losses (Decode-Scene; Encode-Scene without rays_per_view); only the crop's latent "
        "pixels are rendered and decoded, so a step of equal cost holds more views",
        min=0,
    )
    loss: LossWeights = option(LossWeights(), "loss weights")
    lr: LearningRates = option(LearningRates(), "Adam learning rates per module group")
    lr_decay: float = option(1.0, "learning rates are multiplied by this every decay_every steps", min=0.0, max=1.0)
    decay_every: int = option(100, "steps between learning-rate decays", min=1)
    freeze_mlp_last: int = option(0, "the MLP is frozen for this many final steps", min=0)
    es_weights: Literal["uniform", "decoder"] = option(
        "uniform",
        "latent scenes: how Encode-Scene weighs the latent error's directions: alike (plain MSE), or by how much "
        "each moves the decoded image (the decoder's metric, estimated when the phase starts; "
        "latentscenes.autoencoder.sensitivity)",
    )
    es_floor: float = option(
        0.1, "with es_weights=decoder: the share of plain MSE blended into the decoder's metric (1 = plain)", min=0.0, max=1.0
    )
    patience: int = option(
        0,
        "early stopping: end the phase once the validation PSNR (val_psnr, evaluated every eval.every steps on "
        "data.num_val_views views per scene, never the test views) has not risen by min_gain over this many "
        "evaluations of the phase; 0 = run all its steps",
        min=0,
    )
    min_gain: float = option(0.05, "dB the validation PSNR must gain within `patience` evaluations (early stopping)", min=0.0)
    split: Literal["train", "val"] = option(
        "train",
        "the views a batch draws: 'train', or 'val' (data.num_val_views: views the scenes never fit, on which "
        "only the autoencoder may train, as in stage 1's `novel` phase)",
    )
    count: Literal["steps", "visits"] = option(
        "steps",
        "what steps, decay_every and freeze_mlp_last count: optimisation steps, or visits per scene (a scene's "
        "batches; the phase then runs steps x N / scenes_per_batch optimisation steps for N scenes, so one recipe "
        "gives every scene the same training whether the run holds 10 scenes or 1000)",
    )


@dataclass(frozen=True)
class Phase:
    name: str
    config: PhaseConfig


def in_optimisation_steps(config: PhaseConfig, num_scenes: int, processes: int = 1) -> PhaseConfig:
    """`config` with `steps`, `decay_every` and `freeze_mlp_last` in optimisation steps for a
    run of `num_scenes` scenes on `processes` processes (unchanged when they already are).
    A step's batches hold min(scenes_per_batch x processes, N) scenes and the sampler visits
    every scene once per epoch, so after optimisation step t each scene has had
    t x min(S W, N) / N visits, give or take one."""
    if config.count == "steps":
        return config
    steps_per_visit = num_scenes / min(config.scenes_per_batch * processes, num_scenes)
    return replace(
        config,
        count="steps",
        steps=math.ceil(config.steps * steps_per_visit),
        decay_every=max(1, round(config.decay_every * steps_per_visit)),
        freeze_mlp_last=math.ceil(config.freeze_mlp_last * steps_per_visit),
    )


def rays_per_visit(config: PhaseConfig, height: int, width: int, factor: int = 1) -> int:
    """Rays one batch of a phase renders per scene, for images of height x width rendered on a
    grid `factor`x coarser (1: RGB; the autoencoder's downsampling for latent scenes):
    `rays_per_view` random rays per view, or, when a loss needs whole (latent) images
    (Decode-Scene, or Encode-Scene without `rays_per_view`), each view's crop or whole image on
    that grid. A phase with no rendering loss (only `ae`, `eq`, `tv`) renders none."""
    loss = config.loss
    if not (loss.rgb or loss.es or loss.ds):
        return 0
    if loss.ds or not config.rays_per_view:
        per_view = (config.crop // factor) ** 2 if config.crop else (height // factor) * (width // factor)
    else:
        per_view = config.rays_per_view
    return config.views_per_scene * per_view


def recipe(**phases: PhaseConfig) -> list[Phase]:
    """The phases to run, in order, skipping those with zero steps."""
    return [Phase(name, config) for name, config in phases.items() if config.steps > 0]


def validation_plateaued(psnrs: list[float], patience: int, min_gain: float) -> bool:
    """Whether the best of the last `patience` validation PSNRs of a phase (in order) is below
    the best before them + `min_gain` (never before more than `patience` evaluations)."""
    if patience <= 0 or len(psnrs) <= patience:
        return False
    return max(psnrs[-patience:]) < max(psnrs[:-patience]) + min_gain
