"""`DataConfig`: the typed `data` section of training and fitting configs."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from latentscenes.config import option
from latentscenes.data.formats import FORMAT_NAMES, layouts
from latentscenes.data.load import load_scenes
from latentscenes.data.scene import SceneCollection
from latentscenes.errors import ConfigError


@dataclass
class DataConfig:
    """Which scenes and views to load; the arguments of `load_scenes`."""

    root: str = option("", help=f"dataset folder: {layouts()}")
    size: int | None = option(None, help="square image resolution to load at (antialiased resize); null keeps the stored one", min=1)
    above: float | None = option(None, help="keep only views whose camera height cam2world[2,3] exceeds this (reference -0.5); null keeps all")
    num_test_views: int = option(10, help="the first this many views of each scene (after the above filter) are held out for testing", min=0)
    num_val_views: int = option(0, help="the next this many views are the validation split: never fitted by the scenes (only a phase with split=val trains the autoencoder on them, as stage 1's `novel` phase), evaluated during training (curves, plateau) and not reported; 0 evaluates the test views during training", min=0)
    start: int = option(0, help="index of the first scene to load (scenes sorted by name)", min=0)
    count: int | None = option(None, help="number of scenes to load from start; null loads all", min=1)
    format: Literal[FORMAT_NAMES] = option("auto", help=f"dataset format: {', '.join(FORMAT_NAMES)} (auto detects it)")

    def load_options(self) -> dict[str, Any]:
        """Every field but `root`: the keyword arguments of `load_scenes` and `dataset_info`."""
        options = asdict(self)
        del options["root"]
        return options


def load_scenes_from_config(config: DataConfig) -> SceneCollection:
    """`load_scenes` with a `DataConfig`; `ConfigError` if `root` is not set."""
    if not config.root:
        raise ConfigError("config key 'data.root' is not set: give the dataset folder (e.g. data.root=data/cars)")
    return load_scenes(config.root, **config.load_options())
