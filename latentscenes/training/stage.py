"""Running a stage: a model, a recipe and a dataset -> checkpoints, logs, curve.json, renders."""

from __future__ import annotations

from collections.abc import Callable

from latentscenes.config import to_dict
from latentscenes.data import SceneCollection
from latentscenes.evaluation.evaluate import evaluate_scenes
from latentscenes.evaluation.renders import save_comparisons
from latentscenes.io import atomic_write_json
from latentscenes.runs import RunDir
from latentscenes.training.batches import ViewSampler
from latentscenes.training.logger import MetricLogger
from latentscenes.training.loop import LoopSettings, LoopState, TrainableModel, train
from latentscenes.training.recipe import Phase
from latentscenes.training.settings import EvalConfig, LoggingConfig


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
) -> LoopState:
    """Train `model` on `collection` with `phases`; `config` has `eval` and `logging` sections.

    On completion writes `curve.json` (held-out PSNR against training seconds) and renders
    of held-out views, then calls `on_finish`.
    """
    eval_config: EvalConfig = config.eval
    logging: LoggingConfig = config.logging
    logger = MetricLogger(run.logs, logging.backend, run.root.name, to_dict(config))
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
            evaluate=lambda state: held_out_metrics(model, collection, eval_config),
            resume=resume,
            stop_after=stop_after,
        )
    finally:
        logger.close()
    if stop_after is None:
        atomic_write_json(run.curve_path, {"num_scenes": len(collection), "points": state.history})
        save_comparisons(run.renders, model.render_images, collection, eval_config.scenes)
        if on_finish is not None:
            on_finish(state)
    return state


def held_out_metrics(model: TrainableModel, collection: SceneCollection, config: EvalConfig) -> dict[str, float]:
    """Mean metrics on the first `config.views` validation and test views of the first
    `config.scenes` scenes, named `val_<metric>` and `test_<metric>` (no `val_` ones when
    the data has no validation split). Settings and stopping are chosen on `val_*`; `test_*`
    is recorded for the report and read by nothing during training."""
    scenes = list(enumerate(collection.scenes))[: config.scenes]
    splits = ("val", "test") if any(scene.num_val_views for _, scene in scenes) else ("test",)
    result = evaluate_scenes(model.view_metrics, scenes, splits, max_views=config.views)
    return {f"{split}_{name}": value for split, values in result["mean"].items() for name, value in values.items()}
