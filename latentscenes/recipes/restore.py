"""Rebuild a finished (or interrupted) run's model and scenes from its folder, for eval and render."""

from __future__ import annotations

from latentscenes.config import load_config
from latentscenes.data import SceneCollection, load_scenes_from_config
from latentscenes.engine.checkpoint import load_model_weights
from latentscenes.engine.loop import TrainableModel
from latentscenes.engine.runs import RunDir, run_kind
from latentscenes.errors import LatentScenesError
from latentscenes.recipes.rgb import FitRGBConfig, build_rgb_model
from latentscenes.recipes.stage1 import TrainConfig, build_stage1_model
from latentscenes.recipes.stage2 import FitLatentConfig, build_stage2_model


def load_trained(run: RunDir) -> tuple[TrainableModel, SceneCollection]:
    """The run's model with its latest checkpoint loaded, and the scenes it learned."""
    kind = run_kind(run)
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
