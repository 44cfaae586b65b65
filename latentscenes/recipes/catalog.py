"""Named recipes: the settings the project measured, one name each, for `train`, `fit` and `demo`.

A recipe is the config values that differ from the package defaults, for one command. A run
is built from its recipe, then `--config FILE.yaml`, then `key=value` overrides. `train` and
`fit` without `--recipe` or `--config` run the recommended recipe of their stage
(`RECOMMENDED`), so a user's own objects get the settings the demo measured. The files in
`configs/` are these recipes written out (`latentscenes recipes NAME`), to copy and edit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from latentscenes.config import load_config, merged
from latentscenes.errors import ConfigError
from latentscenes.recipes.rgb import FitRGBConfig
from latentscenes.recipes.stage1 import TrainConfig
from latentscenes.recipes.stage2 import FitLatentConfig

RESULTS = "docs/results.md"

# The command each stage is run by, and its config class.
STAGES = {
    "train": ("latentscenes train", TrainConfig),
    "latent": ("latentscenes fit --space latent", FitLatentConfig),
    "rgb": ("latentscenes fit --space rgb", FitRGBConfig),
}


@dataclass(frozen=True)
class Recipe:
    """`settings`: nested config values over the package defaults of `stage`'s config.
    `stage1`: a latent recipe's stage-1 recipe. `shipped`: the builtin a stage-1 recipe made."""

    name: str
    stage: str
    purpose: str
    headline: str
    results: str
    settings: dict[str, Any] = field(default_factory=dict)
    stage1: str = ""
    shipped: str = ""

    @property
    def config_class(self) -> type:
        return STAGES[self.stage][1]

    def config(self, overrides: list[str] = ()):
        """The recipe's config with `key=value` overrides, validated."""
        return load_config(self.config_class, overrides=overrides, base=self.settings)

    def usage(self) -> str:
        command = "latentscenes train" if self.stage == "train" else "latentscenes fit"
        source = ""
        if self.stage == "latent":
            shipped = RECIPES[self.stage1].shipped
            source = f" --from {shipped or 'STAGE1_RUN'}"
        return f"{command} --recipe {self.name}{source} --data DATA --run RUN"

    def config_text(self) -> str:
        """The recipe as a config file: what it is for, then its settings."""
        lines = [f"# Recipe {self.name}: {self.purpose}", f"# Measured: {self.headline} ({self.results})"]
        if self.stage == "latent":
            shipped = RECIPES[self.stage1].shipped
            lines.append(f"# Stage 1: recipe {self.stage1}" + (f", shipped as {shipped}" if shipped else ""))
        if self.shipped:
            lines.append(f"# Shipped as {self.shipped}")
        lines.append(f"#   {self.usage()}")
        lines.append(f"# Written by `latentscenes recipes {self.name}`; tests check that the two agree.")
        body = yaml.safe_dump(self.settings, sort_keys=False) if self.settings else "{}\n"
        return "\n".join(lines) + "\n" + body


# Stage 1: the scene warm-up alone (the autoencoder stays as shipped), Encode-Scene weighted by
# the decoder's metric, 8 shared base planes. What stage 2 takes from it is the MLP, the bases
# and the mean scene, where every new scene starts.
_STAGE1 = {
    "planes": {"num_bases": 8},
    "scenes": {"steps": 2160, "es_weights": "decoder"},
    "joint": {"steps": 0},
    "data": {"num_test_views": 10},
    "eval": {"every": 0, "scenes": 4},
    "logging": {"checkpoint_every": 100},
}

# Stage 2 from the mean stage-1 scene: Encode-Scene on random rays of the cached latents, weighted
# by the decoder's metric, with sub-pixel rays and plane TV, then Decode-Scene on 32 px windows
# with the decoder fine-tuned. Which views train is the data's choice, not the recipe's (the
# settings were chosen with 5 more views per scene held out for validation: data.num_val_views=5).
_LATENT_1X = {
    "data": {"num_test_views": 10},
    "mlp_init": "reuse",
    "scene_init": "mean",
    "micro_resolution": 16,
    "render": {"subpixel_rays": True},
    "encode": {
        "steps": 2000, "scenes_per_batch": 4, "views_per_scene": 8, "rays_per_view": 64,
        "loss": {"es": 1.0, "tv": 0.001}, "es_weights": "decoder",
        "lr": {"planes": 0.02, "weights": 0.05, "bases": 0.02, "mlp": 0.01}, "decay_every": 200,
    },
    "decode": {"steps": 400, "scenes_per_batch": 4, "views_per_scene": 4, "crop": 32, "loss": {"ds": 1.0, "tv": 0.001}},
    "eval": {"every": 100, "scenes": 4, "views": 5},
    "logging": {"checkpoint_every": 100},
}

def _stage1_recipe(name: str, autoencoder: str, space: str, latents: str, headline: str, shipped: str) -> Recipe:
    """The stage-1 recipe in the latent space of the shipped `autoencoder`."""
    return Recipe(
        name, "train", f"stage 1 in {space} of {autoencoder} ({latents} latents for 128 px images)",
        headline, f"{RESULTS}#quality", merged(_STAGE1, {"autoencoder": {"vae": autoencoder}}), shipped=shipped,
    )


_RECIPES = [
    _stage1_recipe(
        "stage1-1x", "builtin:torcs-cars-1x", "the full-resolution latent space", "128 x 128 x 16",
        "910 s on 59 cars (one thread); new cars in it reach RGB's quality (the recommended stage 1)",
        "builtin:torcs-cars-1x-stage1",
    ),
    Recipe(
        "latent-1x", "latent",
        "new scenes in the full-resolution latent space, run to their plateau: the recommended stage 2",
        "test cars 66-69: 25.60 dB against RGB's plateau 24.77, 2.0x as fast as cold RGB by step costs", f"{RESULTS}#quality",
        _LATENT_1X, stage1="stage1-1x",
    ),
    Recipe(
        "latent-1x-short", "latent",
        "latent-1x cut to 1000 Encode-Scene and 400 Decode-Scene steps of 2 views: the demo's stage 2",
        "car 66: 25.06 dB against RGB's 25.44, 0.66x cold RGB's speed, 0.49x warm RGB's", f"{RESULTS}#the-demo",
        merged(_LATENT_1X, {"encode": {"steps": 1000}, "decode": {"views_per_scene": 2}}), stage1="stage1-1x",
    ),
    _stage1_recipe(
        "stage1-2x", "builtin:torcs-cars-2x-3d", "the 2x latent space", "64 x 64 x 8",
        "new cars in it end about 1 dB under RGB on cars with detailed liveries", "builtin:torcs-cars-2x-stage1",
    ),
    Recipe(
        "latent-2x", "latent",
        "new scenes in the 2x latent space: Encode-Scene plateaus after 600 steps there",
        "cars 66-67: 24.35 dB against RGB's 24.73", f"{RESULTS}#quality",
        merged(_LATENT_1X, {"encode": {"steps": 600, "decay_every": 60}, "eval": {"every": 50}}), stage1="stage1-2x",
    ),
    Recipe(
        "rgb", "rgb",
        "the RGB Tri-Plane baseline: cold start, random rays, run to its plateau",
        "cars 66-67: 24.73 dB", f"{RESULTS}#quality",
        # curves on the latent recipes' views, so that `compare` takes the two runs as they come
        {"fit": {"steps": 1500, "decay_every": 500}, "eval": {"scenes": 4, "views": 5}},
    ),
    Recipe(
        "autoencoder", "train",
        "an autoencoder trained from scratch on the stage-1 scenes' images (the warm-up alone)",
        "made builtin:torcs-cars; with autoencoder.downsample=1 latent_channels=16 kl_weight=1e-4, "
        "builtin:torcs-cars-1x", f"{RESULTS}#autoencoders",
        {
            "data": {"num_test_views": 10},
            "autoencoder": {
                "vae": "", "preset": "small", "downsample": 4, "latent_channels": 16, "fully_convolutional": True,
                "train_crop": 64, "augment_hue": 0.1, "augment_saturation": 0.2,
            },
            "warmup": {
                "steps": 6000, "scenes_per_batch": 8, "views_per_scene": 1, "lr": {"encoder": 0.002, "decoder": 0.002},
                "lr_decay": 0.75, "decay_every": 600,
            },
            "scenes": {"steps": 0},
            "joint": {"steps": 0},
            "eval": {"every": 1000, "scenes": 8},
            "logging": {"checkpoint_every": 500},
        },
    ),
    Recipe(
        "stage1-3d-aware", "train",
        "stage 1 that reshapes the latent space: scene warm-up, then encoder and decoder trained with the "
        "scenes (Encode-Scene, Decode-Scene, reconstruction on 64 px crops, equivariance)",
        "run twice from a 2x autoencoder it made builtin:torcs-cars-2x-3d", f"{RESULTS}#autoencoders",
        {
            "data": {"num_test_views": 10},
            "autoencoder": {"vae": "builtin:torcs-cars", "train_crop": 64},
            "scenes": {"steps": 360, "scenes_per_batch": 16, "views_per_scene": 2, "rays_per_view": 64, "freeze_mlp_last": 30},
            "joint": {
                "steps": 600, "scenes_per_batch": 4, "views_per_scene": 1,
                "loss": {"es": 1.0, "ds": 1.0, "ae": 1.0, "eq": 1.0, "tv": 0.0001},
                "lr": {"planes": 0.002, "weights": 0.01, "bases": 0.002, "mlp": 0.001, "encoder": 5e-05, "decoder": 0.0002},
                "lr_decay": 0.7, "decay_every": 500,
            },
            "eval": {"every": 0, "scenes": 4},
            "logging": {"checkpoint_every": 50},
        },
    ),
    Recipe(
        "paper-stage1", "train",
        "the reference's stage 1 (GPU scale): 500 cars, the SD-VAE architecture, 50 bases, 50 + 50 epochs",
        "the paper's settings, for GPUs; not run to the end here", f"{RESULTS}#against-the-reference",
        {
            "data": {"above": -0.5, "num_test_views": 10, "count": 500},
            "autoencoder": {"vae": "", "preset": "sd", "normalization": "tanh"},
            "planes": {"channels": 32, "resolution": 64, "micro_macro": True, "micro_channels": 10, "num_bases": 50},
            "render": {"samples": 48, "importance_samples": 48},
            "warmup": {"steps": 20000, "scenes_per_batch": 32, "views_per_scene": 1},
            "scenes": {"steps": 31250, "scenes_per_batch": 16, "views_per_scene": 2, "rays_per_view": 0, "freeze_mlp_last": 3125},
            "joint": {
                "steps": 31250, "scenes_per_batch": 16, "views_per_scene": 2,
                "loss": {"es": 1.0, "ds": 1.0, "ae": 0.1, "tv": 0.0001},
                "lr": {"planes": 0.001, "weights": 0.01, "bases": 0.01, "mlp": 0.001, "encoder": 0.0001, "decoder": 0.0001},
            },
            "eval": {"every": 2000},
            "logging": {"checkpoint_every": 1000},
        },
    ),
    Recipe(
        "paper-latent", "latent",
        "the reference's stage 2: random new scenes, re-initialised MLP, whole latent images",
        "the paper's settings; slower to converge than latent-1x", f"{RESULTS}#against-the-reference",
        {
            "data": {"above": -0.5, "num_test_views": 10},
            "bases": "finetune",
            "mlp_init": "reinit",
            "scene_init": "random",
            "encode": {
                "steps": 1500, "scenes_per_batch": 16, "views_per_scene": 2, "rays_per_view": 0,
                "lr": {"planes": 0.01, "weights": 0.01, "bases": 0.01, "mlp": 0.01}, "lr_decay": 0.94157, "decay_every": 30,
            },
            "decode": {"steps": 1500, "scenes_per_batch": 16, "views_per_scene": 2},
            "eval": {"every": 250},
        },
        stage1="paper-stage1",
    ),
    Recipe(
        "paper-rgb", "rgb",
        "the reference's RGB Tri-Planes: 32 channels, 64^2 planes, Adam at 1e-2",
        "the paper's baseline settings on random rays (fit.rays_per_view=0: whole images, its protocol)",
        f"{RESULTS}#against-the-reference",
        {
            "data": {"above": -0.5, "num_test_views": 10},
            "planes": {"micro_macro": False},
            "fit": {
                "steps": 3000, "scenes_per_batch": 4, "views_per_scene": 4, "rays_per_view": 256,
                "lr": {"planes": 0.01, "mlp": 0.01}, "decay_every": 250,
            },
            "eval": {"every": 250},
        },
    ),
]
RECIPES = {recipe.name: recipe for recipe in _RECIPES}
RECOMMENDED = {"train": "stage1-1x", "latent": "latent-1x", "rgb": "rgb"}


def named_recipe(name: str, stage: str | None = None) -> Recipe:
    """The recipe `name`, of `stage` when given; an unknown name or another stage's recipe is
    a `ConfigError` listing the ones that fit."""
    fitting = [recipe.name for recipe in _RECIPES if stage in (None, recipe.stage)]
    recipe = RECIPES.get(name)
    if recipe is None or recipe.name not in fitting:
        what = f"no recipe named {name!r}" if recipe is None else f"recipe {name!r} is for {STAGES[recipe.stage][0]}"
        raise ConfigError(f"{what}; recipes here: {', '.join(fitting)} (latentscenes recipes lists them)")
    return recipe
