"""Running a stage: a model, a recipe and a dataset -> checkpoints, logs, curve.json, renders.

Under `torchrun` every process runs the stage on its shard of the scenes
(`latentscenes.engine.distributed`); held-out metrics and renders are gathered from
the processes holding the evaluated scenes, and rank 0 alone writes files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields

from latentscenes.config import to_dict
from latentscenes.data import Scene, SceneCollection
from latentscenes.data.batches import ViewSampler
from latentscenes.engine.logger import MetricLogger
from latentscenes.engine.loop import LoopSettings, LoopState, TrainableModel, train
from latentscenes.engine.runs import RunDir
from latentscenes.evaluation.evaluate import evaluate_model
from latentscenes.evaluation.renders import comparison_grids, write_comparisons
from latentscenes.errors import ConfigError
from latentscenes.io import atomic_write_json
from latentscenes.models.phases import Phase, PhaseConfig
from latentscenes.parallel import current_world, gather_objects
from latentscenes.recipes.settings import EvalConfig, LoggingConfig


def run_stage(
    model: TrainableModel,
    phases: list[Phase],
    collection: SceneCollection,
    run: RunDir,
    config: object,
    seed: int,
    resume: bool = False,
    stop_after: int | None = None,
    on_finish: Callable[[LoopState], None] | None = None,
    first_scene: int = 0,
) -> LoopState:
    """Train `model` on `collection` with `phases`; `config` has `eval` and `logging` sections.
    `first_scene`: the position of the collection's first scene among the run's (under
    `torchrun`, where the collection is this process's shard).

    On completion writes `curve.json` (held-out PSNR against training seconds) and renders
    of held-out views, then calls `on_finish` (in every process).
    """
    check_phase_settings(config)
    eval_config: EvalConfig = config.eval
    logging: LoggingConfig = config.logging
    world = current_world()
    num_scenes = sum(gather_objects(world, len(collection)))
    if eval_config.first >= num_scenes:
        raise ConfigError(f"config key 'eval.first' ({eval_config.first}) is past the run's last scene ({num_scenes} scenes)")
    logs = run.logs if world.is_main else None
    logger = MetricLogger(logs, logging.backend, run.root.name, to_dict(config))
    evaluated = [
        (row, scene) for row, scene in enumerate(collection.scenes)
        if 0 <= first_scene + row - eval_config.first < eval_config.scenes
    ]
    try:
        state = train(
            model,
            phases,
            ViewSampler(collection.scenes),
            run.checkpoints,
            logger,
            LoopSettings(
                log_every=logging.log_every,
                eval_every=eval_config.every,
                checkpoint_every=logging.checkpoint_every,
                seed=seed,
                progress=logging.progress,
            ),
            evaluate=lambda state: held_out_metrics(model, evaluated, eval_config.views),
            resume=resume,
            stop_after=stop_after,
        )
    finally:
        logger.close()
    if stop_after is None:
        grids = gather_objects(world, comparison_grids(model.render_images, evaluated))
        if world.is_main:
            atomic_write_json(run.curve_path, {"num_scenes": num_scenes, "points": state.history})
            write_comparisons(run.renders, [grid for part in grids for grid in part])
        if on_finish is not None:
            on_finish(state)
    return state


def check_phase_settings(config: object) -> None:
    """What the phases of `config` ask of the data and evaluation, checked before a run
    starts: early stopping and phases on validation views. `config` has `data`, `eval` and
    phase sections."""
    _check_early_stopping(config)
    _check_splits(config)


def _check_early_stopping(config: object) -> None:
    """A phase that stops early (`patience`) needs validation views and evaluations during
    training."""
    for name, phase in _phase_sections(config):
        if not phase.patience:
            continue
        if not config.data.num_val_views:
            raise ConfigError(
                f"config key '{name}.patience' stops on the validation PSNR: set data.num_val_views "
                "(views per scene held out for choosing, never reported)"
            )
        if not config.eval.every:
            raise ConfigError(f"config key '{name}.patience' needs evaluations during training: set eval.every")


def _check_splits(config: object) -> None:
    """A phase on the validation views needs them and may train only the autoencoder (the
    scenes, bases and MLP never fit those views)."""
    for name, phase in _phase_sections(config):
        if phase.split == "train" or not phase.steps:
            continue
        if not config.data.num_val_views:
            raise ConfigError(
                f"config key '{name}.split' is '{phase.split}': set data.num_val_views (views per scene "
                "that the scenes never train on)"
            )
        fitted = [group for group in phase.lr.active() if group not in ("encoder", "decoder")]
        if fitted:
            raise ConfigError(
                f"config key '{name}.split' is '{phase.split}' but the phase trains "
                f"{', '.join(fitted)} (set {', '.join(f'{name}.lr.{g}=0' for g in fitted)}): "
                "only the autoencoder may learn from views the scenes never fit"
            )
        if phase.loss.es and not phase.lr.encoder:
            raise ConfigError(
                f"config key '{name}.split' is '{phase.split}' with Encode-Scene on cached latents, "
                "which hold the training views only"
            )


def _phase_sections(config: object) -> list[tuple[str, PhaseConfig]]:
    """(name, phase config) of every phase section of a stage config."""
    sections = ((field.name, getattr(config, field.name)) for field in fields(config))
    return [(name, value) for name, value in sections if isinstance(value, PhaseConfig)]


def held_out_metrics(model: TrainableModel, scenes: list[tuple[int, Scene]], views: int) -> dict[str, float]:
    """Mean metrics on the first `views` validation and test views of `scenes` (bank row,
    scene), named `val_<metric>` and `test_<metric>` (no `val_` ones when the data has no
    validation split). Settings and stopping are chosen on `val_*`; `test_*` is recorded for
    the report and read by nothing during training. Under `torchrun`: the means over every
    process's `scenes`."""
    world = current_world()
    with_val = any(gather_objects(world, any(scene.num_val_views for _, scene in scenes)))
    splits = ("val", "test") if with_val else ("test",)
    result = evaluate_model(model, scenes, splits, max_views=views)
    if world.distributed:  # pool the processes' per-scene means, weighted by their views
        counted = [
            (len(scene.split(split)[:views]), split, result["scenes"][scene.scene_id][split])
            for _, scene in scenes
            for split in splits
            if split in result["scenes"][scene.scene_id]
        ]
        result = {"mean": _pooled_means([item for part in gather_objects(world, counted) for item in part])}
    return {f"{split}_{name}": value for split, values in result["mean"].items() for name, value in values.items()}


def _pooled_means(counted: list[tuple[int, str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """{split: {metric: mean over views}} from (views, split, {metric: mean}) of each scene and split."""
    sums: dict[str, dict[str, list[float]]] = {}
    for count, split, metrics in counted:
        for name, value in metrics.items():
            total = sums.setdefault(split, {}).setdefault(name, [0.0, 0])
            total[0] += count * value
            total[1] += count
    return {split: {name: total / count for name, (total, count) in names.items()} for split, names in sums.items()}
