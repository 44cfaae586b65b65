"""`latentscenes fit --space rgb`: the RGB Tri-Plane baseline as a one-phase recipe."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from latentscenes.config import option, to_dict
from latentscenes.data import DataConfig, SceneCollection, load_scenes_from_config
from latentscenes.evaluation.evaluate import evaluate_scenes, rgb_metrics
from latentscenes.evaluation.renders import save_comparisons
from latentscenes.io import atomic_write_json
from latentscenes.rendering.config import DecoderConfig, RenderConfig, TriPlaneConfig
from latentscenes.runs import RunDir
from latentscenes.training.batches import ViewSampler
from latentscenes.training.logger import MetricLogger
from latentscenes.training.loop import LoopSettings, LoopState, train
from latentscenes.training.recipe import LearningRates, LossWeights, PhaseConfig, recipe
from latentscenes.training.rgb_scenes import RGBScenes
from latentscenes.training.settings import EvalConfig, LoggingConfig


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
    logger = MetricLogger(run.logs, config.logging.backend, run.root.name, to_dict(config))
    try:
        state = train(
            model,
            recipe(fit=config.fit),
            ViewSampler(collection.scenes),
            run.checkpoints,
            logger,
            LoopSettings(
                log_every=config.logging.log_every,
                eval_every=config.eval.every,
                checkpoint_every=config.logging.checkpoint_every,
                seed=config.seed,
                progress=config.logging.progress,
            ),
            evaluate=lambda state: held_out_psnr(model, collection, config.eval),
            resume=resume,
            stop_after=stop_after,
        )
    finally:
        logger.close()
    if stop_after is None:
        atomic_write_json(run.root / "curve.json", {"num_scenes": len(collection), "points": state.history})
        save_comparisons(run.renders, model.render_images, collection, config.eval.scenes)
    return state


def held_out_psnr(model: RGBScenes, collection: SceneCollection, config: EvalConfig) -> dict[str, float]:
    """Mean PSNR/SSIM on the first `config.views` test views of the first `config.scenes` scenes."""
    scenes = list(enumerate(collection.scenes))[: config.scenes]
    result = evaluate_scenes(rgb_metrics(model.render_images), scenes, ("test",), max_views=config.views)
    return {f"test_{name}": value for name, value in result["mean"]["test"].items()}
