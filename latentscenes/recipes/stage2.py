"""Stage 2, `latentscenes fit --space latent --from STAGE1_RUN`: learn new scenes in the
3D-aware latent space.

New scenes get their own micro planes and mixing weights, starting as the average
stage-1 scene (`scene_init=mean`; random with `scene_init=random`, as in the paper; or, with
`scene_init=learned start=...`, the average scene plus what a learned start predicts from the
scene's training-view latents, `latentscenes.models.learned_start`); the
base planes start from stage 1 (fine-tuned, or frozen with `bases=freeze`); the MLP starts
from stage 1's (`mlp_init=reuse`; re-initialised with `mlp_init=reinit`, as in the paper).
Starting close to the stage-1 scenes is what makes new scenes cheap (docs/design.md lists
these departures from the paper; `configs/fit-latent.yaml` keeps its choices). Recipe:
0. `coefficients` (off): Encode-Scene on the base weights alone, a coarse fit in stage 1's span.
1. `encode`: Encode-Scene only on cached latents, autoencoder frozen, decaying lr.
2. `decode`: Decode-Scene only, the decoder fine-tuned (encoder frozen); the fine-tuned
   decoder is saved with these scenes.
3. `novel` (off): the decoder alone on renders of the scenes' validation views, which they
   never fitted. Run on stage-1 scenes refitted here (`data` = some stage-1 scenes,
   `decode.steps=0`), it makes a decoder for new scenes' novel views: the run writes
   `RUN/autoencoder/` whenever a phase trained the decoder, and later stage-2 runs take it
   with `autoencoder=RUN/autoencoder` (the encoder must be stage 1's).
Any phase can be switched off (`encode.steps=0` is the paper's "Decode-pre-Encode"-less
variant, `decode.steps=0` its "Encode-Scene only").
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import torch

from latentscenes.autoencoder import LatentAutoencoder, load_autoencoder, save_autoencoder
from latentscenes.config import load_config, option
from latentscenes.data import DataConfig, SceneCollection
from latentscenes.engine.checkpoint import load_checkpoint
from latentscenes.engine.distributed import load_shard
from latentscenes.engine.loop import LoopState
from latentscenes.engine.runs import RUN_FILE, RunDir, open_run
from latentscenes.errors import ConfigError, LatentScenesError
from latentscenes.io import atomic_write_json
from latentscenes.models.latent import LatentScenes
from latentscenes.models.learned_start import apply_start, bases_fingerprint, check_start, load_learned_start, scene_features
from latentscenes.models.phases import LearningRates, LossWeights, PhaseConfig, recipe
from latentscenes.parallel import current_world
from latentscenes.recipes.settings import EvalConfig, LoggingConfig
from latentscenes.recipes.stage import run_stage
from latentscenes.recipes.stage1 import (
    NOVEL_VIEWS, NOVEL_VIEWS_HELP, TrainConfig, autoencoder_folder, one_time_seconds, open_stage1_run,
)
from latentscenes.rendering.config import RenderConfig
from latentscenes.scenes.warm_start import warm_start
from latentscenes.weights import PREFIX, STAGE1, START, builtin_folder, builtin_names, is_builtin, provenance


@dataclass
class FitLatentConfig:
    """Stage 2: new scenes learned in the latent space of a stage-1 run."""

    data: DataConfig = option(DataConfig(), "the new scenes")
    stage1: str = option(
        "",
        "stage-1 run folder, relative to this run's folder, or builtin:<name>, a shipped one (set by --from): "
        "autoencoder, bases, MLP, plane sizes, the mean scene",
    )
    autoencoder: str = option(
        "",
        "the autoencoder instead of stage 1's: builtin:<name> or a folder (relative to the working directory) "
        "with stage 1's encoder and another decoder, e.g. RUN/autoencoder of a stage-2 run whose `novel` phase "
        "trained it; empty = stage 1's",
    )
    bases: Literal["finetune", "freeze"] = option("finetune", "train the stage-1 base planes further, or freeze them")
    mlp_init: Literal["reinit", "reuse"] = option(
        "reuse", "start from stage 1's MLP, or re-initialise it (the paper's choice; slower to converge)"
    )
    scene_init: Literal["random", "mean", "learned"] = option(
        "mean",
        "new scenes' micro planes and base weights: the mean of stage 1's scenes (every new scene starts "
        "as the average stage-1 scene), random (the paper's choice; slower to converge), or learned: the mean "
        "plus what the learned start `start` predicts from each scene's training-view latents",
    )
    start: str = option(
        "",
        "with scene_init=learned: the learned start, a folder made by `latentscenes start train` (RUN/start, "
        "relative to the working directory) or builtin:<name>, a shipped one; trained through this stage 1",
    )
    micro_resolution: int = option(
        0,
        "side of the new scenes' micro planes; 0 = stage 1's (planes.micro_resolution). Smaller micro "
        "planes cut each scene's bytes (half the side: a quarter); the mean stage-1 scene is averaged down to it",
        min=0,
    )
    render: RenderConfig = option(RenderConfig(), "volume rendering of latent images")
    coefficients: PhaseConfig = option(
        PhaseConfig(
            steps=0, scenes_per_batch=4, views_per_scene=8, rays_per_view=64,
            loss=LossWeights(es=1.0), lr=LearningRates(weights=0.2),
        ),
        "phase 0 (off unless given steps), coefficient-first: Encode-Scene on each scene's base weights alone "
        "(micro planes, bases and MLP frozen): few parameters and large steps before `encode` refines everything",
    )
    encode: PhaseConfig = option(
        PhaseConfig(
            steps=100, scenes_per_batch=16, views_per_scene=2, rays_per_view=64,
            loss=LossWeights(es=1.0), lr=LearningRates(planes=2e-2, weights=5e-2, bases=2e-2, mlp=1e-2),
            lr_decay=0.94157, decay_every=40,
        ),
        "phase A: Encode-Scene on cached latents (the latent pixels under random rays), autoencoder frozen",
    )
    decode: PhaseConfig = option(
        PhaseConfig(
            steps=20, scenes_per_batch=4, views_per_scene=1,
            loss=LossWeights(ds=1.0), lr=LearningRates(planes=1e-3, weights=1e-3, bases=1e-3, mlp=1e-3, decoder=1e-4),
        ),
        "phase B: Decode-Scene on whole views, decoder fine-tuned (encoder frozen)",
    )
    novel: PhaseConfig = option(NOVEL_VIEWS, "phase C, novel views: " + NOVEL_VIEWS_HELP)
    eval: EvalConfig = option(EvalConfig(), "evaluation during training")
    logging: LoggingConfig = option(LoggingConfig(), "logs and checkpoints")
    seed: int = option(0, "seed of initialisation and sampling")


def stage2_phases(config: FitLatentConfig):
    phases = {"coefficients": config.coefficients, "encode": config.encode, "decode": config.decode, "novel": config.novel}
    if config.bases == "freeze":
        phases = {name: replace(phase, lr=replace(phase.lr, bases=0.0)) for name, phase in phases.items()}
    return recipe(**phases)


def stage1_run(config: FitLatentConfig, run_root: Path) -> tuple[RunDir, TrainConfig]:
    """The stage-1 run of the stage-2 run in `run_root` (which may not exist yet). `stage1` is
    relative to `run_root`, so the two runs can move or be copied together."""
    if not config.stage1:
        raise LatentScenesError(
            "stage 2 needs a stage-1 run: pass --from RUN (made by latentscenes train) or a shipped one, "
            f"--from builtin:<name> (shipped: {', '.join(PREFIX + n for n in builtin_names(STAGE1)) or 'none'})"
        )
    folder = stage1_folder(config.stage1, run_root)
    if not folder.is_dir():
        raise LatentScenesError(
            f"stage-1 run {folder} is missing (stage1={config.stage1}, relative to the stage-2 run {run_root}); "
            "move or copy the stage-1 run with it, or set stage1 in its config.yaml"
        )
    run = open_stage1_run(folder)
    if config.scene_init == "learned":
        start_folder(config.start)
    return run, load_config(TrainConfig, run.config_path)


def start_folder(start: str) -> Path:
    """The folder of the learned start `start` (a `start` config value); `ConfigError` naming
    the key when it is empty or names no folder."""
    shipped = ", ".join(PREFIX + n for n in builtin_names(START)) or "none"
    if not start:
        raise ConfigError(
            "config key 'start': scene_init=learned needs a learned start: a folder made by `latentscenes start "
            f"train` (RUN/start) or builtin:<name> (shipped: {shipped})"
        )
    folder = builtin_folder(start, key="start", kind=START) if is_builtin(start) else Path(start)
    if not folder.is_dir():
        raise ConfigError(f"config key 'start': {start} is not a folder (nor builtin:<name>; shipped: {shipped})")
    return folder


def stage1_folder(stage1: str, run_root: str | Path) -> Path:
    """The folder of the stage-1 run `stage1` (a `stage1` config value) of a stage-2 run in
    `run_root`: a shipped one's, or `stage1` taken relative to `run_root`."""
    if is_builtin(stage1):
        return builtin_folder(stage1, key="stage1", kind=STAGE1)
    return Path(os.path.normpath(Path(run_root) / stage1))  # lexically: run_root may not exist yet


def absolute_stage1(stage1: str, run_root: str | Path) -> str:
    """The `stage1` config value that names the same stage-1 run from any folder: a shipped
    one's `builtin:<name>` as it is, a folder as an absolute path (`stage1` is relative to
    `run_root`, e.g. for a probe run elsewhere)."""
    return stage1 if is_builtin(stage1) else str(stage1_folder(stage1, Path(run_root).resolve()))


def stage1_reference(stage1: str | Path, run_root: str | Path) -> str:
    """The `stage1` config value for the stage-1 run `stage1` (relative to the working
    directory, or `builtin:<name>`) of a stage-2 run in `run_root`: the path from one to the
    other, or the shipped run's name."""
    if is_builtin(str(stage1)):
        return str(stage1)
    return os.path.relpath(Path(stage1).absolute(), Path(run_root).absolute())


def build_stage2_model(config: FitLatentConfig, collection: SceneCollection, run: RunDir, first_scene: int = 0) -> LatentScenes:
    """New scenes with stage 1's autoencoder, base planes and (optionally) MLP."""
    first, first_config = stage1_run(config, run.root)
    torch.manual_seed(config.seed + first_scene)  # under torchrun each shard draws its own scenes
    planes = first_config.planes
    if config.micro_resolution:
        planes = replace(planes, micro_resolution=config.micro_resolution)
    model = LatentScenes(
        collection.scenes, stage2_autoencoder(config, autoencoder_folder(first)), planes, first_config.mlp,
        config.render, first_config.autoencoder, cache_folder=run.root / "latent-cache",
    )
    tensors, _ = load_checkpoint(first.checkpoints)
    warm_start(model.bank, model.mlp, tensors, config.scene_init != "random", config.mlp_init == "reuse")
    if config.scene_init == "learned":
        start_from_learned(config, model, tensors, run)
    return model


def start_from_learned(config: FitLatentConfig, model: LatentScenes, stage1_tensors: dict[str, torch.Tensor], run: RunDir) -> None:
    """Move every new scene (a row holding the mean stage-1 scene) to the mean plus what the
    learned start `config.start` predicts from its training views' latents (encoded into the
    latent cache, which the encode phase then reads). The first time, writes
    `RUN/learned-start.json`: the start and the seconds the prediction took, encoding included
    (a training cost the loop's clock does not see)."""
    if config.mlp_init != "reuse":
        raise ConfigError("config key 'mlp_init': scene_init=learned needs mlp_init=reuse (the start was trained through stage 1's MLP)")
    net, record = load_learned_start(start_folder(config.start))
    check_start(net, model.bank, bases_fingerprint(stage1_tensors["model.bank.bases"]), record)
    started = time.perf_counter()
    model.ensure_normalizer()
    apply_start(model, net, scene_features(model, model.cached_latents(), net.config))
    seconds = time.perf_counter() - started
    record_path = run.root / "learned-start.json"
    if current_world().is_main and not record_path.exists():
        atomic_write_json(record_path, {"start": config.start, "seconds": seconds, "scenes": len(model.scenes)})


def learned_start_costs(config: FitLatentConfig, run_root: Path) -> dict[str, float]:
    """What a finished stage-2 run's learned start cost: `prediction_per_scene`, the seconds of
    predicting its scenes (`RUN/learned-start.json`) per scene, and `training`, the start's
    own training seconds, a one-time cost; {} for a run without a learned start."""
    if config.scene_init != "learned":
        return {}
    record = json.loads((run_root / "learned-start.json").read_text())
    _, start = load_learned_start(start_folder(config.start))
    return {"prediction_per_scene": record["seconds"] / record["scenes"], "training": float(start["train_seconds"])}


def stage2_autoencoder(config: FitLatentConfig, stage1_folder: Path) -> LatentAutoencoder:
    """Stage 1's autoencoder (in `stage1_folder`), or `config.autoencoder` when it has stage 1's
    encoder and normaliser: stage 1's bases and MLP live in that latent space, so only the
    decoder may differ."""
    own = load_autoencoder(stage1_folder)
    if not config.autoencoder:
        return own
    source = config.autoencoder
    folder = builtin_folder(source, key="autoencoder") if is_builtin(source) else Path(source)
    if not folder.is_dir():
        raise ConfigError(f"config key 'autoencoder': {source} is not a folder (nor builtin:<name>)")
    other = load_autoencoder(folder)
    mine, theirs = _latent_space_tensors(own), _latent_space_tensors(other)
    if mine.keys() != theirs.keys() or any(not torch.equal(mine[k], theirs[k]) for k in mine):
        raise LatentScenesError(
            f"config key 'autoencoder': {source} encodes into another latent space than stage 1's "
            f"autoencoder ({stage1_folder}): its encoder or latent normaliser differs, and stage 1's bases "
            "and MLP were learned in that space; only the decoder may change"
        )
    return other


def _latent_space_tensors(autoencoder: LatentAutoencoder) -> dict[str, torch.Tensor]:
    """What decides the latents an autoencoder gives: its encoder half and its normaliser."""
    normalizer = {f"normalizer.{k}": v for k, v in autoencoder.normalizer.state_dict().items()}
    return autoencoder.encoder_state() | normalizer


def stage2_one_time_seconds(config: FitLatentConfig, stage1: RunDir) -> dict[str, float]:
    """What new scenes fitted with `config` from the finished stage-1 run `stage1` cost once:
    stage 1's parts (`one_time_seconds`) and, with `autoencoder=`, `decoder`: the training of
    that decoder. Its encoder is stage 1's (checked when the run starts), so only the
    decoder's own training is added: a shipped one's `train_seconds`, or the training seconds
    of the run whose `autoencoder/` folder it is; 0 for another folder (not recorded)."""
    parts = one_time_seconds(stage1)
    source = config.autoencoder
    if is_builtin(source):
        parts["decoder"] = float(provenance(source)["train_seconds"])
    elif source and (Path(source).parent / RUN_FILE).is_file():
        parts["decoder"] = float(load_checkpoint(open_run(Path(source).parent).checkpoints)[1]["train_seconds"])
    elif source:
        parts["decoder"] = 0.0
    return parts


def trains_decoder(config: FitLatentConfig) -> bool:
    return any(phase.config.lr.decoder > 0 for phase in stage2_phases(config))


def fit_stage2(config: FitLatentConfig, run: RunDir, resume: bool = False, stop_after: int | None = None) -> LoopState:
    world = current_world()
    collection, first_scene = load_shard(config.data, world)
    model = build_stage2_model(config, collection, run, first_scene)
    phases = stage2_phases(config)
    model.check_phases(phases)

    def export(state: LoopState) -> None:
        if world.is_main and trains_decoder(config):
            save_autoencoder(model.autoencoder, autoencoder_folder(run))

    return run_stage(
        model, phases, collection, run, config, config.seed, resume, stop_after, on_finish=export,
        first_scene=first_scene,
    )
