"""Stage 1, `latentscenes train`: make an autoencoder's latent space 3D-aware with N1 scenes.

Recipe (each phase can be switched off with `<phase>.steps=0`):
1. `warmup`: plain autoencoding (reconstruction + small KL, colour augmentation) on the
   training views, from scratch; skipped when pretrained weights are given
   (`autoencoder.vae`, by default the shipped `builtin:torcs-cars`).
2. `scenes`: scene warm-up; autoencoder frozen, Encode-Scene loss on cached latents;
   planes, weights, bases and MLP train.
3. `joint`: Encode-Scene + Decode-Scene + autoencoder reconstruction + plane TV with
   per-module learning rates. By default the decoder trains and the encoder stays fixed;
   the paper trains both (recipe `paper-stage1`).
4. `novel` (off unless `novel.steps` > 0): Decode-Scene on views the scenes never fitted
   (their validation views, `data.num_val_views`) and the AE term on them, training the
   decoder alone, so that it decodes the latents a scene renders at novel views.
The autoencoder is also written to `RUN/autoencoder/` (diffusers folder + normaliser),
loadable with `autoencoder.vae=RUN/autoencoder` or by stage 2 (`fit --space latent --from`).
Defaults are the best settings measured (docs/log/benchmarks.md, "Package defaults").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from latentscenes.autoencoder import AutoencoderConfig, build_autoencoder, save_autoencoder
from latentscenes.config import load_config, option
from latentscenes.data import DataConfig, SceneCollection, dataset_info
from latentscenes.engine.checkpoint import latest_meta
from latentscenes.engine.distributed import load_shard
from latentscenes.engine.loop import LoopState
from latentscenes.engine.runs import RunDir, open_run, run_kind
from latentscenes.errors import LatentScenesError
from latentscenes.models.latent import LatentScenes, check_crop
from latentscenes.models.phases import LearningRates, LossWeights, PhaseConfig, recipe
from latentscenes.parallel import current_world
from latentscenes.recipes.settings import EvalConfig, LoggingConfig
from latentscenes.recipes.stage import run_stage
from latentscenes.rendering.config import DecoderConfig, RenderConfig
from latentscenes.scenes.config import TriPlaneConfig
from latentscenes.weights import builtin_folder, is_builtin, training_seconds

AUTOENCODER_FOLDER = "autoencoder"
# In a compact stage-1 run whose autoencoder is a shipped one, unchanged: {"builtin": "builtin:<name>"}.
AUTOENCODER_REFERENCE = "autoencoder.json"

# A new scene rendered at a view it never fitted gives latents with errors that fitting never
# shows the decoder: this phase teaches them (measured in docs/log/benchmarks.md, "A decoder for
# novel views"). Stage 1 and stage 2 (on refitted stage-1 scenes) both offer it, off by default.
NOVEL_VIEWS = PhaseConfig(
    steps=0, scenes_per_batch=4, views_per_scene=2, split="val",
    loss=LossWeights(ds=1.0, ae=1.0), lr=LearningRates(decoder=1e-4),
)
NOVEL_VIEWS_HELP = (
    "Decode-Scene on the scenes' validation views (data.num_val_views), which no other phase fits, and "
    "the AE term on them to keep reconstruction; only the decoder trains"
)


@dataclass
class TrainConfig:
    """Stage 1: the 3D-aware autoencoder, trained jointly with the Tri-Planes of `data`'s scenes."""

    data: DataConfig = option(DataConfig(), "the stage-1 scenes")
    autoencoder: AutoencoderConfig = option(
        AutoencoderConfig(vae="builtin:torcs-cars"),
        "the image autoencoder; `autoencoder.vae=` (empty) builds `autoencoder.preset` and trains it in the warm-up",
    )
    planes: TriPlaneConfig = option(TriPlaneConfig(), "Tri-Planes (micro-macro by default)")
    mlp: DecoderConfig = option(DecoderConfig(), "the shared MLP")
    render: RenderConfig = option(RenderConfig(), "volume rendering of latent images")
    warmup: PhaseConfig = option(
        PhaseConfig(
            steps=1000, scenes_per_batch=8, views_per_scene=1,
            loss=LossWeights(ae=1.0), lr=LearningRates(encoder=1e-3, decoder=1e-3),
            lr_decay=0.7, decay_every=250,
        ),
        "phase 0, autoencoder warm-up (skipped when autoencoder.vae is set)",
    )
    # Many small steps (64 random pixels per view) fit the scenes better than fewer whole views at equal cost.
    scenes: PhaseConfig = option(
        PhaseConfig(
            steps=360, scenes_per_batch=16, views_per_scene=2, rays_per_view=64,
            loss=LossWeights(es=1.0), lr=LearningRates(planes=1e-2, weights=1e-2, bases=1e-2, mlp=1e-2),
            freeze_mlp_last=30,
        ),
        "phase A, scene warm-up: ES on cached latents, autoencoder frozen",
    )
    # The decoder learns to decode rendered latents; a fixed encoder keeps the cached latents valid
    # and the strong AE term keeps it reconstructing real ones.
    joint: PhaseConfig = option(
        PhaseConfig(
            steps=30, scenes_per_batch=4, views_per_scene=1,
            loss=LossWeights(es=1.0, ds=1.0, ae=3.0, tv=1e-4),
            lr=LearningRates(planes=1e-3, weights=1e-2, bases=1e-2, mlp=1e-3, encoder=0.0, decoder=2e-4),
        ),
        "phase B, joint: ES + DS + AE + TV; the decoder trains, the encoder only with lr.encoder > 0",
    )
    novel: PhaseConfig = option(NOVEL_VIEWS, "phase C, novel views: " + NOVEL_VIEWS_HELP)
    eval: EvalConfig = option(EvalConfig(), "evaluation during training")
    logging: LoggingConfig = option(LoggingConfig(), "logs and checkpoints")
    seed: int = option(0, "seed of initialisation and sampling")


def check_stage1_config(config: TrainConfig) -> None:
    """Checks that need the dataset, made before a run folder exists: `autoencoder.train_crop`
    against the images' size (and a preset's downsampling; pretrained weights are checked
    when loaded)."""
    crop = config.autoencoder.train_crop
    if not crop or not config.data.root:
        return
    data = config.data
    info = dataset_info(
        data.root, size=data.size, above=data.above, num_test_views=data.num_test_views,
        start=data.start, count=data.count, format=data.format, num_val_views=data.num_val_views,
    )
    factor = 1 if config.autoencoder.vae else config.autoencoder.downsample
    check_crop("autoencoder.train_crop", crop, factor, min(min(side) for side in info.resolution))


def stage1_phases(config: TrainConfig):
    warmup = replace(config.warmup, steps=0) if config.autoencoder.vae else config.warmup
    return recipe(warmup=warmup, scenes=config.scenes, joint=config.joint, novel=config.novel)


def build_stage1_model(config: TrainConfig, collection: SceneCollection, run: RunDir, first_scene: int = 0) -> LatentScenes:
    """`first_scene`: the position of the collection's first scene in the run (under torchrun
    each process's shard draws its own initial planes; rank 0's shared modules are broadcast)."""
    torch.manual_seed(config.seed + first_scene)
    autoencoder = build_autoencoder(config.autoencoder)
    return LatentScenes(
        collection.scenes, autoencoder, config.planes, config.mlp, config.render, config.autoencoder,
        cache_folder=run.root / "latent-cache",
    )


def train_stage1(config: TrainConfig, run: RunDir, resume: bool = False, stop_after: int | None = None) -> LoopState:
    world = current_world()
    collection, first_scene = load_shard(config.data, world)
    model = build_stage1_model(config, collection, run, first_scene)

    def export(state: LoopState) -> None:
        model.ensure_normalizer()
        if world.is_main:
            save_autoencoder(model.autoencoder, autoencoder_folder(run))

    phases = stage1_phases(config)
    model.check_phases(phases)
    return run_stage(
        model, phases, collection, run, config, config.seed, resume, stop_after, on_finish=export,
        first_scene=first_scene,
    )


def one_time_seconds(run: RunDir) -> dict[str, float]:
    """What a finished stage-1 run cost once, whatever number of new scenes it serves:
    `stage1` (its training seconds) and `autoencoder` (the training of the shipped weights it
    started from, with their own starting points; 0 for an autoencoder trained here from
    scratch or loaded from elsewhere, whose cost is not recorded)."""
    config = load_config(TrainConfig, run.config_path)
    source = config.autoencoder.vae
    return {
        "autoencoder": training_seconds(source) if is_builtin(source) else 0.0,
        "stage1": float(latest_meta(run.checkpoints)["train_seconds"]),
    }


def autoencoder_folder(run: RunDir) -> Path:
    """The folder of a run's autoencoder: `RUN/autoencoder/`, or the shipped autoencoder that
    `RUN/autoencoder.json` names (a compact stage-1 run that kept it unchanged)."""
    reference = run.root / AUTOENCODER_REFERENCE
    if reference.is_file():
        return builtin_folder(json.loads(reference.read_text())["builtin"], key=str(reference))
    return run.root / AUTOENCODER_FOLDER


def open_stage1_run(folder: str | Path) -> RunDir:
    """The finished stage-1 (train) run in `folder`; another kind of run, or one whose
    autoencoder is not written yet, is a `LatentScenesError` naming it."""
    run = open_run(folder)
    if run_kind(run) != "train":
        raise LatentScenesError(f"{run.root} is a '{run_kind(run)}' run, not a stage-1 (train) run")
    if not (autoencoder_folder(run) / "config.json").is_file():
        raise LatentScenesError(f"stage-1 run {run.root} has not finished (no {autoencoder_folder(run)})")
    return run
