"""`latentscenes start train --from STAGE1_RUN`: train a learned start for new scenes.

A `LearnedStart` (`latentscenes.models.learned_start`) learns to predict, from a scene's
training-view latents and cameras, the residual of its micro planes and base weights over
the mean stage-1 scene. It is trained on stage 1's own scenes (`data`), end to end through
stage 1's frozen base planes and MLP, with the loss of stage 2's encode phase (Encode-Scene
on random rays of the training views; `fit`); in-training evaluation renders the predicted
scenes on their held-out views. The run writes `RUN/start/` (`start.json`,
`start.safetensors`), which stage 2 takes with `scene_init=learned start=RUN/start`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

from latentscenes.autoencoder import load_autoencoder
from latentscenes.config import load_config, option
from latentscenes.data import DataConfig, SceneCollection
from latentscenes.engine.checkpoint import load_checkpoint
from latentscenes.engine.distributed import load_shard
from latentscenes.engine.loop import LoopState
from latentscenes.engine.runs import RunDir
from latentscenes.errors import ConfigError, LatentScenesError
from latentscenes.models.latent import LatentScenes
from latentscenes.models.learned_start import (
    LearnedStart, LearnedStartConfig, StartTraining, bases_fingerprint, save_learned_start,
)
from latentscenes.models.phases import LearningRates, LossWeights, PhaseConfig, recipe
from latentscenes.parallel import current_world
from latentscenes.recipes.settings import EvalConfig, LoggingConfig
from latentscenes.recipes.stage import run_stage
from latentscenes.recipes.stage1 import TrainConfig, autoencoder_folder, open_stage1_run
from latentscenes.recipes.stage2 import absolute_stage1, stage1_folder
from latentscenes.rendering.config import RenderConfig
from latentscenes.scenes.warm_start import warm_start

START_FOLDER = "start"


@dataclass
class StartNetConfig:
    depths: int = option(8, "depths along each plane's normal axis at which the texels are back-projected", min=1)
    pool: int = option(32, "side the latents are area-pooled to before sampling (0: as they are)", min=0)
    hidden: int = option(64, "channels of the convolutional net", min=1)
    blocks: int = option(3, "residual blocks of two 3x3 convolutions", min=0)


@dataclass
class StartTrainConfig:
    """A learned start for new scenes, trained on a stage-1 run's scenes through its bases and MLP."""

    data: DataConfig = option(DataConfig(), "the scenes it learns from: stage 1's own (e.g. data.count=59)")
    stage1: str = option(
        "", "stage-1 run folder, relative to this run's folder, or builtin:<name>, a shipped one (set by --from)"
    )
    micro_resolution: int = option(
        16, "side of the micro planes it predicts: stage 2's micro_resolution (0 = stage 1's planes.micro_resolution)", min=0
    )
    network: StartNetConfig = option(StartNetConfig(), "the network")
    render: RenderConfig = option(RenderConfig(subpixel_rays=True), "volume rendering of latent images (stage 2's)")
    fit: PhaseConfig = option(
        PhaseConfig(
            steps=2000, scenes_per_batch=8, views_per_scene=4, rays_per_view=64,
            loss=LossWeights(es=1.0), lr=LearningRates(planes=1e-3), es_weights="decoder", lr_decay=0.7, decay_every=500,
        ),
        "training: stage 2's Encode-Scene loss on the predicted scenes; lr.planes is the network's learning rate",
    )
    eval: EvalConfig = option(EvalConfig(every=500, scenes=4, views=2), "evaluation of the predicted scenes during training")
    logging: LoggingConfig = option(LoggingConfig(), "logs and checkpoints")
    seed: int = option(0, "seed of initialisation and sampling")


def check_start_config(config: StartTrainConfig, run_root: Path) -> None:
    """Refuse a config before its run folder exists: a stage-1 run is named and exists, and
    only the network trains."""
    if not config.stage1:
        raise ConfigError("config key 'stage1': a learned start is trained through a stage-1 run: pass --from RUN or builtin:<name>")
    if not stage1_folder(config.stage1, run_root).is_dir():
        raise ConfigError(f"config key 'stage1': {config.stage1} (relative to the run {run_root}) is not a folder")
    other = [group for group in config.fit.lr.active() if group != "planes"]
    if other:
        raise ConfigError(f"config key 'fit.lr': only the network trains (fit.lr.planes); set {', '.join(f'fit.lr.{g}=0' for g in other)}")
    if config.fit.loss.ds or config.fit.loss.ae or config.fit.loss.eq or config.fit.loss.rgb:
        raise ConfigError("config key 'fit.loss': a learned start trains on Encode-Scene (fit.loss.es) and plane TV only")


def build_start_training(config: StartTrainConfig, run: RunDir) -> tuple[StartTraining, str, SceneCollection]:
    """The network and the frozen stage-1 model it trains through (every scene of `data` the
    mean stage-1 scene), the stage-1 bases' fingerprint and the scenes."""
    check_start_config(config, run.root)
    first = open_stage1_run(stage1_folder(config.stage1, run.root))
    first_config = load_config(TrainConfig, first.config_path)
    collection, _ = load_shard(config.data, current_world())
    planes = first_config.planes
    if not planes.micro_macro or planes.ultralight:
        raise LatentScenesError(f"stage-1 run {first.root} has no micro planes and base weights to predict")
    if config.micro_resolution:
        planes = replace(planes, micro_resolution=config.micro_resolution)
    autoencoder = load_autoencoder(autoencoder_folder(first))
    model = LatentScenes(
        collection.scenes, autoencoder, planes, first_config.mlp, config.render, first_config.autoencoder,
        cache_folder=run.root / "latent-cache",
    )
    tensors, _ = load_checkpoint(first.checkpoints)
    warm_start(model.bank, model.mlp, tensors, mean_scene=True, reuse_mlp=True)
    net = LearnedStart(LearnedStartConfig(
        micro_channels=planes.micro_channels, micro_side=planes.micro_side, num_bases=planes.num_bases,
        latent_channels=autoencoder.latent_channels, box=config.render.box, **asdict(config.network),
    ))
    return StartTraining(model, net), bases_fingerprint(tensors["model.bank.bases"]), collection


def train_start(config: StartTrainConfig, run: RunDir, resume: bool = False, stop_after: int | None = None) -> LoopState:
    if current_world().distributed:
        raise LatentScenesError("latentscenes start train runs in one process (its scenes share one network)")
    training, fingerprint, collection = build_start_training(config, run)

    def save(state: LoopState) -> None:
        save_learned_start(run.root / START_FOLDER, training.net, {
            "stage1": absolute_stage1(config.stage1, run.root),
            "bases_fingerprint": fingerprint,
            "trained_on": {"scenes": len(training.scenes_model.scenes), "data": str(config.data.root),
                           "start": config.data.start, "count": len(training.scenes_model.scenes)},
            "steps": state.global_step,
            "train_seconds": state.train_seconds,
        })

    return run_stage(training, recipe(fit=config.fit), collection, run, config, config.seed, resume, stop_after, on_finish=save)
