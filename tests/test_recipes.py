"""The named recipes: each loads into the config of its command and means what it meant when it
was a config file (`recipes_resolved.json` holds each file's resolved config from before the
registry, keyed by the recipe it became, and the demo's three runs per recipe), every file in
`configs/` is a recipe written out, `--recipe` reaches the run through the real CLI, and a bad
name is one clear error."""

import json
from pathlib import Path

import pytest
import yaml

from latentscenes.cli.main import main
from latentscenes.config import load_config, to_dict
from latentscenes.models.phases import MODULE_GROUPS
from latentscenes.recipes.catalog import RECIPES, RECOMMENDED, named_recipe
from latentscenes.recipes.stage1 import TrainConfig
from latentscenes.studies.demo import RECIPES as DEMO_RECIPES
from latentscenes.studies.demo import stages

ROOT = Path(__file__).resolve().parents[1]
RESOLVED = json.loads(Path(__file__).with_name("recipes_resolved.json").read_text())


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


# Which views train is the data's choice, not a recipe's (the demo's runs set it themselves), so
# the validation views a record's settings were chosen on are not compared.
DATA_CHOICES = ("data.num_val_views",)


def assert_same_settings(now: dict, before: dict, data_choices: tuple[str, ...] = ()) -> None:
    """Keys added to the configs later are not compared; every key of the record must still exist."""
    now, before = flat(now), {k: v for k, v in effective(before).items() if k not in data_choices}
    assert set(before) <= set(now), sorted(set(before) - set(now))
    changed = {key: (value, now[key]) for key, value in before.items() if now[key] != value}
    assert not changed, changed


@pytest.mark.parametrize("name", sorted(RESOLVED["recipes"]))
def test_recipe_resolves_to_the_settings_its_config_file_gave(name):
    assert_same_settings(to_dict(named_recipe(name).config()), RESOLVED["recipes"][name], DATA_CHOICES)


@pytest.mark.parametrize("recipe", sorted(RESOLVED["demo"]))
def test_the_demos_runs_keep_their_settings(recipe):
    for run, config_cls, base in stages(recipe):
        assert_same_settings(to_dict(load_config(config_cls, base=base)), RESOLVED["demo"][recipe][run or "stage1"])


def test_every_recipe_is_in_configs_as_it_prints_and_nothing_else_is():
    files = {path.stem: path.read_text() for path in (ROOT / "configs").glob("*.yaml")}
    assert set(files) == set(RECIPES)
    for name, recipe in RECIPES.items():
        assert files[name] == recipe.config_text(), f"regenerate it: latentscenes recipes {name} > configs/{name}.yaml"
        # the file, read as a config over the package defaults, is the recipe
        assert load_config(recipe.config_class, ROOT / "configs" / f"{name}.yaml") == recipe.config()
    assert not (ROOT / "latentscenes" / "configs").exists()


def test_every_stage_has_a_recommended_recipe_and_every_latent_recipe_a_stage1_recipe():
    assert {RECIPES[name].stage for name in RECOMMENDED.values()} == set(RECOMMENDED)
    for recipe in RECIPES.values():
        assert (recipe.stage == "latent") == bool(recipe.stage1)
        assert not recipe.stage1 or RECIPES[recipe.stage1].stage == "train"
        assert recipe.results.startswith("docs/results.md#") and recipe.purpose and recipe.headline
    assert set(DEMO_RECIPES) == {"latent-1x", "latent-1x-short", "latent-2x"}


@pytest.mark.parametrize("latent", [name for name, recipe in RECIPES.items() if recipe.stage == "latent"])
def test_a_latent_recipe_and_its_rgb_baseline_draw_their_curves_on_the_same_views(latent):
    """`compare` refuses runs whose curves were measured on other views: the recipes of one
    comparison must agree on them."""
    rgb = "paper-rgb" if latent.startswith("paper-") else RECOMMENDED["rgb"]
    views = [(config.data.num_test_views, config.data.num_val_views, config.data.above, config.eval.scenes,
              config.eval.views, config.eval.first) for config in (RECIPES[latent].config(), RECIPES[rgb].config())]
    assert views[0] == views[1]


def test_the_joint_benchmark_times_the_papers_joint_phase():
    """`bench joint` reads the reference's phase B from its stage-1 recipe, where the paper
    trains every module, not from the package defaults (whose encoder stays fixed)."""
    from latentscenes.bench.training import paper_joint_phase

    paper = named_recipe("paper-stage1").config().joint
    assert paper_joint_phase() == paper
    assert set(paper.lr.active()) == set(MODULE_GROUPS) and paper.loss.active() == {"es": 1.0, "ds": 1.0, "ae": 0.1, "tv": 1e-4}
    assert TrainConfig().joint.lr.encoder == 0.0


def test_recipes_lists_every_recipe_and_prints_one_as_its_file(capsys):
    assert main(["recipes"]) == 0
    listing = capsys.readouterr().out
    for name in RECIPES:
        assert f"  {name}" in listing
    assert "stage1-1x (default)" in listing and "latent-1x (default)" in listing and "rgb (default)" in listing
    assert main(["recipes", "latent-2x"]) == 0
    assert capsys.readouterr().out == RECIPES["latent-2x"].config_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["recipes", "latent-9x"], "no recipe named 'latent-9x'"),
        (["fit", "--recipe", "stage1-1x"], "is for `latentscenes train`, not fit"),
        (["fit", "--space", "rgb", "--recipe", "latent-1x"], "recipe 'latent-1x' is for latentscenes fit --space latent"),
        (["train", "--recipe", "rgb"], "recipe 'rgb' is for latentscenes fit --space rgb; recipes here: stage1-1x"),
        (["fit"], "fit needs --space latent or --space rgb, or a --recipe"),
    ],
)
def test_a_bad_recipe_is_one_clear_error_and_creates_nothing(tmp_path, capsys, args, message):
    run = tmp_path / "run"
    tail = [] if args[0] == "recipes" else ["--data", str(tmp_path), "--run", str(run)]
    assert main([*args, *tail]) == 2
    assert message in capsys.readouterr().err
    assert not run.exists()


def _config(run: Path) -> dict:
    return yaml.safe_load((run / "config.yaml").read_text())


@pytest.mark.slow  # three tiny training runs
def test_fit_and_train_start_from_the_named_recipe_then_the_config_file_then_overrides(objects_32px, tmp_path):
    data = str(objects_32px)
    tiny = ["data.num_test_views=4", "planes.resolution=16", "planes.channels=8", "render.samples=8",
            "render.importance_samples=0", "fit.steps=2", "fit.rays_per_view=16", "eval.views=1", "eval.scenes=1",
            "logging.backend=none", "logging.progress=false"]
    # no --recipe, no --config: the recommended recipe (rgb: 1500 steps, decayed every 500), under the overrides
    assert main(["fit", "--space", "rgb", "--data", data, "--run", str(tmp_path / "default"), *tiny]) == 0
    default = _config(tmp_path / "default")
    assert default["fit"]["decay_every"] == 500 and default["fit"]["steps"] == 2
    # --recipe without --space: the recipe's space; the paper's settings
    assert main(["fit", "--recipe", "paper-rgb", "--data", data, "--run", str(tmp_path / "paper"), *tiny]) == 0
    paper = _config(tmp_path / "paper")
    assert paper["fit"]["decay_every"] == 250 and paper["fit"]["lr"]["planes"] == 0.01 and paper["data"]["above"] == -0.5
    # --config alone: the file over the package defaults (600 steps, decayed every 150)
    config = tmp_path / "mine.yaml"
    config.write_text("fit:\n  lr: {planes: 0.05}\n")
    assert main(["fit", "--space", "rgb", "--config", str(config), "--data", data, "--run", str(tmp_path / "file"), *tiny]) == 0
    own = _config(tmp_path / "file")
    assert own["fit"]["decay_every"] == 150 and own["fit"]["lr"]["planes"] == 0.05
    # --recipe and --config: the file over the recipe
    assert main(["fit", "--recipe", "paper-rgb", "--config", str(config), "--data", data,
                 "--run", str(tmp_path / "both"), *tiny]) == 0
    both = _config(tmp_path / "both")
    assert both["fit"]["decay_every"] == 250 and both["fit"]["lr"]["planes"] == 0.05
    # a resumed run keeps its config: another --recipe is a change, refused
    assert main(["fit", "--space", "rgb", "--recipe", "paper-rgb", "--run", str(tmp_path / "default"), "--resume"]) == 2


def test_every_recipe_links_to_a_section_of_the_results_page():
    headings = [line[3:].strip() for line in (ROOT / "docs" / "results.md").read_text().splitlines() if line.startswith("## ")]
    anchors = {heading.lower().replace(" ", "-") for heading in headings}
    for recipe in RECIPES.values():
        assert recipe.results.split("#", 1)[1] in anchors, (recipe.name, recipe.results)
