"""Every config file in the repository loads into the config of the command it is for (a
misspelt or misplaced key in one is an error here, not in a user's run) and means what it
meant when the package defaults became the demo's settings: `shipped_configs_resolved.json`
holds each file's resolved config from the commit before that change (0fd91a9), so the
paper's configs still give the paper's runs and the demo's its figures (the demo's files since
they became the 2x recipe, 2026-12-02; the 1x recipe's files since they were made, 2026-12-03; the
demo's 1x stage 2 since it became configs/fit-latent-1x-short.yaml, the demo's default, 2026-12-03)."""

import json
from pathlib import Path

import pytest

from latentscenes.config import load_config, to_dict
from latentscenes.models.phases import MODULE_GROUPS
from latentscenes.recipes.rgb import FitRGBConfig
from latentscenes.recipes.stage1 import TrainConfig
from latentscenes.recipes.stage2 import FitLatentConfig

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted([*(ROOT / "configs").glob("*.yaml"), *(ROOT / "latentscenes" / "configs").glob("*.yaml")])
DEMO_FILES = [path for path in FILES if path.stem.startswith("demo-")]
RESOLVED = json.loads((Path(__file__).with_name("shipped_configs_resolved.json")).read_text())
# The demo runs the full-resolution recipe cut to its budget (configs/train-1x.yaml,
# configs/fit-latent-1x-short.yaml), with --recipe 2x the 2x one, and the RGB baseline's package defaults,
# run to its plateau. What only the demo's data and budget decide: its views (the stage-1 scenes'
# 20 training views counted as 10 test + 5 validation instead of 15 test), the baseline's length
# and how often its runs evaluate.
DEMO_RECIPES = {"demo-train": "train-2x", "demo-fit-latent": "fit-latent-2x",
                "demo-train-1x": "train-1x", "demo-fit-latent-1x": "fit-latent-1x-short"}
DEMO_SPECIFIC = ("data.num_test_views", "data.num_val_views", "fit.steps", "fit.decay_every", "eval.", "logging.")

def config_class(path: Path) -> type:
    name = path.stem.removeprefix("demo-")
    if name.startswith("fit-latent"):
        return FitLatentConfig
    if name.startswith("fit-rgb"):
        return FitRGBConfig
    return TrainConfig


def flat(config: dict, prefix: str = "") -> dict:
    """A nested config dict as {dotted key: value}."""
    rows = {}
    for key, value in config.items():
        if isinstance(value, dict):
            rows.update(flat(value, f"{prefix}{key}."))
        else:
            rows[f"{prefix}{key}"] = value
    return rows


def effective(settings: dict) -> dict:
    """The settings a run uses: of a phase with 0 steps only its step count matters."""
    idle = tuple(key.removesuffix("steps") for key, value in settings.items() if key.endswith(".steps") and value == 0)
    return {key: value for key, value in settings.items() if not key.startswith(idle) or key.endswith(".steps")}


def resolved(path: Path) -> dict:
    return flat(to_dict(load_config(config_class(path), path)))


def test_every_config_file_is_found():
    assert len(FILES) >= 9 and {"fit-latent-converged", "train-3d-aware", "demo-train"} <= {f.stem for f in FILES}
    assert {str(path.relative_to(ROOT)) for path in FILES} == set(RESOLVED)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_config_file_resolves_to_the_settings_it_always_gave(path):
    """Keys added to the configs later are not compared; every key of the record must still exist."""
    now, before = resolved(path), effective(RESOLVED[str(path.relative_to(ROOT))])
    assert set(before) <= set(now), sorted(set(before) - set(now))
    changed = {key: (value, now[key]) for key, value in before.items() if now[key] != value}
    assert not changed, changed


@pytest.mark.parametrize("path", DEMO_FILES, ids=lambda p: p.name)
def test_demo_configs_are_the_recipes_they_name_and_change_only_what_is_specific_to_the_demo(path):
    """The demo's stages are the 2x recipe's files; its RGB baseline the package defaults."""
    recipe = DEMO_RECIPES.get(path.stem)
    reference = resolved(ROOT / "configs" / f"{recipe}.yaml") if recipe else flat(to_dict(config_class(path)()))
    changed = sorted(key for key, value in resolved(path).items() if reference[key] != value)
    assert all(key.startswith(DEMO_SPECIFIC) for key in changed), changed
    assert recipe or changed


def test_the_joint_benchmark_times_the_papers_joint_phase():
    """`bench joint` reads the reference's phase B from configs/train.yaml, where the paper
    trains every module, not from the package defaults (whose encoder stays fixed)."""
    from latentscenes.bench.training import paper_joint_phase

    paper = load_config(TrainConfig, ROOT / "configs" / "train.yaml").joint
    assert paper_joint_phase() == paper
    assert set(paper.lr.active()) == set(MODULE_GROUPS) and paper.loss.active() == {"es": 1.0, "ds": 1.0, "ae": 0.1, "tv": 1e-4}
    assert TrainConfig().joint.lr.encoder == 0.0
