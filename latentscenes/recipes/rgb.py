"""`latentscenes fit --space rgb`: the RGB Tri-Plane baseline as a one-phase recipe.

Cold (the paper's baseline): random planes and MLP. Warm (`init_from=RUN`, the control a
practitioner would try): every new scene starts as the mean scene of an earlier RGB run on
other scenes of the same kind, with that run's MLP, as stage 2 starts from stage 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from latentscenes.config import load_config, option
from latentscenes.data import DataConfig
from latentscenes.engine.checkpoint import load_checkpoint
from latentscenes.engine.distributed import load_shard
from latentscenes.engine.loop import LoopState
from latentscenes.engine.runs import RunDir, open_run, run_kind
from latentscenes.errors import ConfigError, LatentScenesError
from latentscenes.models.phases import LearningRates, LossWeights, PhaseConfig, recipe
from latentscenes.models.rgb import RGBScenes
from latentscenes.parallel import current_world
from latentscenes.recipes.settings import EvalConfig, LoggingConfig
from latentscenes.recipes.stage import run_stage
from latentscenes.rendering.config import DecoderConfig, RenderConfig
from latentscenes.scenes.config import TriPlaneConfig
from latentscenes.scenes.warm_start import warm_start
from latentscenes.weights import RGB_START, builtin_folder, is_builtin


@dataclass
class FitRGBConfig:
    """Plain RGB Tri-Planes fitted to the pixels of every scene in `data`."""

    data: DataConfig = option(DataConfig(), "which scenes and views")
    init_from: str = option(
        "",
        "an RGB run on other scenes (e.g. the stage-1 scenes), its compact copy (export --stage1) or "
        "builtin:<name>, a shipped one: new scenes start as its mean scene with its MLP (same planes and mlp "
        "settings); empty: random scenes and MLP, the paper's baseline",
    )
    planes: TriPlaneConfig = option(TriPlaneConfig(micro_macro=False), "Tri-Plane sizes")
    mlp: DecoderConfig = option(DecoderConfig(), "the shared MLP")
    render: RenderConfig = option(RenderConfig(), "volume rendering")
    # Planes at 2e-1, the best of the learning rates tried on validation views (docs/log/benchmarks.md,
    # "The demo"); RowAdam's per-row step counts keep a scene's first updates small at that rate.
    fit: PhaseConfig = option(
        PhaseConfig(
            steps=600,
            scenes_per_batch=4,
            views_per_scene=4,
            rays_per_view=256,
            loss=LossWeights(rgb=1.0),
            lr=LearningRates(planes=2e-1, mlp=1e-2),
            lr_decay=0.8,
            decay_every=150,
        ),
        "the fitting phase: batches, loss weights (rgb, tv), learning rates (planes, mlp)",
    )
    eval: EvalConfig = option(EvalConfig(), "evaluation during training")
    logging: LoggingConfig = option(LoggingConfig(), "logs and checkpoints")
    seed: int = option(0, "seed of initialisation and sampling")


def build_rgb_model(config: FitRGBConfig, num_scenes: int, first_scene: int = 0) -> RGBScenes:
    """`first_scene`: the position of the model's first scene in the run (under torchrun each
    process's shard draws its own initial planes)."""
    torch.manual_seed(config.seed + first_scene)
    model = RGBScenes(num_scenes, config.planes, config.mlp, config.render)
    if config.init_from:
        tensors, _ = load_checkpoint(earlier_rgb_run(config).checkpoints)
        warm_start(model.bank, model.mlp, tensors, mean_scene=True, reuse_mlp=True)
    return model


def check_rgb_config(config: FitRGBConfig) -> None:
    """What can be checked before a run folder exists: no whole-image crops (RGB Tri-Planes
    learn from random rays) and the warm-start run (`earlier_rgb_run`)."""
    if config.fit.crop:
        raise ConfigError(
            "config key 'fit.crop' is for latent scenes' whole-image losses; RGB Tri-Planes learn from "
            "random rays (fit.rays_per_view)"
        )
    earlier_rgb_run(config)


def earlier_rgb_run(config: FitRGBConfig) -> RunDir | None:
    """The RGB run named by `init_from` (its latest checkpoint is the start), a folder or
    builtin:<name> (None when empty); clear errors otherwise."""
    if not config.init_from:
        return None
    if is_builtin(config.init_from):
        run = open_run(builtin_folder(config.init_from, key="init_from", kind=RGB_START))
    else:
        run = open_run(config.init_from)
    if run_kind(run) != "fit-rgb":
        raise LatentScenesError(f"init_from={run.root} is a '{run_kind(run)}' run, not an RGB (fit --space rgb) run")
    mismatch = warm_start_mismatch(load_config(FitRGBConfig, run.config_path), config)
    if mismatch:
        raise LatentScenesError(f"{mismatch} (init_from={run.root}): a warm start needs the same planes and MLP")
    return run


def warm_start_mismatch(earlier: FitRGBConfig, config: FitRGBConfig) -> str | None:
    """What keeps RGB scenes of `config` from starting as the mean scene of a run of `earlier`
    (the plane sizes and the MLP), in words; None when they can."""
    for key in ("channels", "resolution", "micro_macro", "micro_channels", "num_bases"):
        if getattr(earlier.planes, key) != getattr(config.planes, key):
            return f"config key 'planes.{key}' is {getattr(config.planes, key)}, the earlier run's {getattr(earlier.planes, key)}"
    if earlier.mlp != config.mlp:
        return "config section 'mlp' differs from the earlier run's"
    return None


def fit_rgb(config: FitRGBConfig, run: RunDir, resume: bool = False, stop_after: int | None = None) -> LoopState:
    """Fit every scene of `config.data`; checkpoints, logs, curve.json and renders go to `run`."""
    collection, first_scene = load_shard(config.data, current_world())
    model = build_rgb_model(config, len(collection), first_scene)
    return run_stage(
        model, recipe(fit=config.fit), collection, run, config, config.seed, resume, stop_after, first_scene=first_scene
    )
