"""`latentscenes fit --space rgb`: the RGB Tri-Plane baseline as a one-phase recipe."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from latentscenes.config import option
from latentscenes.data import DataConfig, load_scenes_from_config
from latentscenes.rendering.config import DecoderConfig, RenderConfig, TriPlaneConfig
from latentscenes.runs import RunDir
from latentscenes.training.loop import LoopState
from latentscenes.training.recipe import LearningRates, LossWeights, PhaseConfig, recipe
from latentscenes.training.rgb_scenes import RGBScenes
from latentscenes.training.settings import EvalConfig, LoggingConfig
from latentscenes.training.stage import run_stage


@dataclass
class FitRGBConfig:
    """Plain RGB Tri-Planes fitted to the pixels of every scene in `data`."""

    data: DataConfig = option(DataConfig(), "which scenes and views")
    planes: TriPlaneConfig = option(TriPlaneConfig(micro_macro=False), "Tri-Plane sizes")
    mlp: DecoderConfig = option(DecoderConfig(), "the shared MLP")
    render: RenderConfig = option(RenderConfig(), "volume rendering")
    fit: PhaseConfig = option(
        PhaseConfig(
            steps=1500,
            scenes_per_batch=4,
            views_per_scene=4,
            rays_per_view=256,
            loss=LossWeights(rgb=1.0),
            lr=LearningRates(planes=1e-2, mlp=1e-2),
            lr_decay=0.8,
            decay_every=250,
        ),
        "the fitting phase: batches, loss weights (rgb, tv), learning rates (planes, mlp)",
    )
    eval: EvalConfig = option(EvalConfig(), "evaluation during training")
    logging: LoggingConfig = option(LoggingConfig(), "logs and checkpoints")
    seed: int = option(0, "seed of initialisation and sampling")


def build_rgb_model(config: FitRGBConfig, num_scenes: int) -> RGBScenes:
    torch.manual_seed(config.seed)
    return RGBScenes(num_scenes, config.planes, config.mlp, config.render)


def fit_rgb(config: FitRGBConfig, run: RunDir, resume: bool = False, stop_after: int | None = None) -> LoopState:
    """Fit every scene of `config.data`; checkpoints, logs, curve.json and renders go to `run`."""
    collection = load_scenes_from_config(config.data)
    model = build_rgb_model(config, len(collection))
    return run_stage(model, recipe(fit=config.fit), collection, run, config, config.seed, resume, stop_after)
