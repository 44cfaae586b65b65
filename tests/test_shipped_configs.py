"""Every config file in the repository loads into the config of the command it is for (a
misspelt or misplaced key in one is an error here, not in a user's run)."""

from pathlib import Path

import pytest

from latentscenes.config import load_config
from latentscenes.recipes.rgb import FitRGBConfig
from latentscenes.recipes.stage1 import TrainConfig
from latentscenes.recipes.stage2 import FitLatentConfig

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted([*(ROOT / "configs").glob("*.yaml"), *(ROOT / "latentscenes" / "configs").glob("*.yaml")])


def config_class(path: Path) -> type:
    name = path.stem.removeprefix("demo-")
    if name.startswith("fit-latent"):
        return FitLatentConfig
    if name.startswith("fit-rgb"):
        return FitRGBConfig
    return TrainConfig


def test_every_config_file_is_found():
    assert len(FILES) >= 9 and {"fit-latent-converged", "train-3d-aware", "demo-train"} <= {f.stem for f in FILES}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_config_file_loads(path):
    load_config(config_class(path), path)
