"""Rebuild a finished (or interrupted) run's model and scenes from its folder, for eval and render;
evaluate it into `RUN/eval.json`, and tell whether an existing `eval.json` is still current."""

from __future__ import annotations

import json

from latentscenes.config import load_config
from latentscenes.data import SceneCollection, load_scenes_from_config
from latentscenes.engine.checkpoint import latest_checkpoint, load_model_weights
from latentscenes.engine.loop import TrainableModel
from latentscenes.engine.runs import RUN_FILE, RunDir, hold_run, run_kind
from latentscenes.errors import LatentScenesError
from latentscenes.evaluation.evaluate import evaluate_model, write_eval
from latentscenes.recipes.rgb import FitRGBConfig, build_rgb_model
from latentscenes.recipes.stage1 import TrainConfig, build_stage1_model
from latentscenes.recipes.stage2 import FitLatentConfig, build_stage2_model


def load_trained(run: RunDir) -> tuple[TrainableModel, SceneCollection]:
    """The run's model with its latest checkpoint loaded, and the scenes it learned."""
    kind = run_kind(run)
    if json.loads((run.root / RUN_FILE).read_text()).get("compact"):
        use = f"fit --space rgb init_from={run.root}" if kind == "fit-rgb" else f"fit --space latent --from {run.root}"
        raise LatentScenesError(
            f"{run.root} is a compact copy of a run (export --stage1): it holds the mean of its scenes, not the "
            f"scenes; new scenes start from it with {use}"
        )
    if kind == "fit-rgb":
        config = load_config(FitRGBConfig, run.config_path)
        collection = load_scenes_from_config(config.data)
        model = build_rgb_model(config, len(collection))
    elif kind == "train":
        config = load_config(TrainConfig, run.config_path)
        collection = load_scenes_from_config(config.data)
        model = build_stage1_model(config, collection, run)
    elif kind == "fit-latent":
        config = load_config(FitLatentConfig, run.config_path)
        collection = load_scenes_from_config(config.data)
        model = build_stage2_model(config, collection, run)
    else:
        raise LatentScenesError(f"{run.root} holds a '{kind}' run, which this version does not know")
    load_model_weights(model, run.checkpoints)
    model.eval()
    return model, collection


EVAL_FILE = "eval.json"


def evaluate_run(run: RunDir, splits: tuple[str, ...], max_views: int | None = None) -> dict:
    """Evaluate the run's latest checkpoint on `splits` (at most `max_views` views per scene and
    split) and write `RUN/eval.json`, recording which checkpoint and how many views it covers."""
    with hold_run(run.root):  # never reads a run that another process is still writing
        model, collection = load_trained(run)
        result = evaluate_model(model, enumerate(collection.scenes), splits, max_views)
        result["run"] = {
            "kind": run_kind(run), "path": str(run.root), "checkpoint": _latest_name(run), "max_views": max_views,
        }
        write_eval(run.root / EVAL_FILE, result)
    return result


def current_evaluation(run: RunDir, splits: tuple[str, ...]) -> dict | None:
    """`RUN/eval.json` when it holds `splits` on all their views for the run's latest
    checkpoint; None when it is missing, partial, or older than that checkpoint."""
    path = run.root / EVAL_FILE
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    recorded = result.get("run", {})
    current = recorded.get("checkpoint") == _latest_name(run) and recorded.get("max_views") is None
    return result if current and set(splits) <= set(result.get("mean", {})) else None


def _latest_name(run: RunDir) -> str | None:
    latest = latest_checkpoint(run.checkpoints)
    return latest.name if latest else None
