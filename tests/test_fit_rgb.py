"""End to end: the RGB Tri-Plane baseline through the CLI on a small built dataset."""

import json

import pytest
import torch

from latentscenes.cli.main import main
from latentscenes.engine.logger import read_metrics

FAST = [
    "data.num_test_views=4",
    "planes.resolution=32",
    "planes.channels=16",
    "render.samples=24",
    "render.importance_samples=24",
    "fit.steps=150",
    "fit.rays_per_view=128",
    "fit.scenes_per_batch=4",
    "fit.views_per_scene=2",
    "fit.lr_decay=1.0",
    "fit.loss.tv=1e-4",
    "eval.every=75",
    "eval.views=4",
    "logging.backend=none",
    "logging.progress=false",
    "logging.checkpoint_every=50",
]


@pytest.fixture(scope="module")
def rgb_run(objects_32px, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "rgb"
    assert main(["fit", "--space", "rgb", "--data", str(objects_32px), "--run", str(run), *FAST]) == 0
    return run


def test_rgb_fit_reaches_held_out_psnr_and_writes_outputs(rgb_run):
    curve = json.loads((rgb_run / "curve.json").read_text())
    psnrs = [point["test_psnr"] for point in curve["points"]]
    assert [point["step"] for point in curve["points"]] == [75, 150]
    assert psnrs[-1] > 20.0, psnrs  # white background alone scores ~10-13 dB here
    assert psnrs[-1] > psnrs[0]
    assert all(point["train_seconds"] > 0 for point in curve["points"])
    renders = sorted((rgb_run / "renders").iterdir())
    assert len(renders) == 4 and all(p.name.endswith("-test.png") for p in renders)
    losses = [row["loss/rgb"] for row in read_metrics(rgb_run / "logs") if "loss/rgb" in row]
    assert losses[-1] < 0.5 * losses[0]


def test_eval_writes_eval_json_with_both_splits(rgb_run, capsys):
    assert main(["eval", str(rgb_run), "--max-views", "4"]) == 0
    result = json.loads((rgb_run / "eval.json").read_text())
    assert set(result["mean"]) == {"test", "train"}
    assert result["mean"]["test"]["psnr"] > 20.0
    assert 0 < result["mean"]["test"]["ssim"] <= 1
    assert len(result["scenes"]) == 4
    for scene in result["scenes"].values():
        assert set(scene["test"]) == {"psnr", "ssim"}
    assert "psnr" in capsys.readouterr().out


def test_a_new_run_never_overwrites_an_existing_one(rgb_run, objects_32px, capsys):
    before = (rgb_run / "config.yaml").read_text()
    assert main(["fit", "--space", "rgb", "--data", str(objects_32px), "--run", str(rgb_run), *FAST]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (rgb_run / "config.yaml").read_text() == before


def test_resume_of_a_finished_run_keeps_its_result(rgb_run, capsys):
    before = json.loads((rgb_run / "curve.json").read_text())
    assert main(["fit", "--space", "rgb", "--run", str(rgb_run), "--resume"]) == 0
    after = json.loads((rgb_run / "curve.json").read_text())
    assert after["points"] == before["points"]


def test_resume_refuses_config_changes(rgb_run, capsys):
    before = (rgb_run / "config.yaml").read_text()
    assert main(["fit", "--space", "rgb", "--run", str(rgb_run), "--resume", "fit.steps=10"]) == 2
    assert "--resume continues" in capsys.readouterr().err
    assert (rgb_run / "config.yaml").read_text() == before


def test_bad_override_names_the_key(objects_32px, tmp_path, capsys):
    assert main(["fit", "--space", "rgb", "--data", str(objects_32px), "--run", str(tmp_path / "r"), "fit.steps=-3"]) == 2
    assert "'fit.steps'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_warm_started_rgb_scenes_start_as_the_earlier_runs_mean_scene(rgb_run, objects_32px, tmp_path):
    """init_from=RUN: every new scene starts as the earlier run's mean scene, with its MLP."""
    from latentscenes.config import load_config
    from latentscenes.engine.checkpoint import load_checkpoint
    from latentscenes.recipes.rgb import FitRGBConfig, build_rgb_model

    earlier, _ = load_checkpoint(rgb_run / "checkpoints")
    config = load_config(FitRGBConfig, overrides=[f"data.root={objects_32px}", *FAST, f"init_from={rgb_run}"])
    model = build_rgb_model(config, num_scenes=2)
    for row in range(2):
        assert torch.allclose(model.bank.planes[row], earlier["model.bank.planes"].mean(0))
    for key, value in model.mlp.state_dict().items():
        assert torch.equal(value, earlier[f"model.mlp.{key}"]), key
    cold = build_rgb_model(load_config(FitRGBConfig, overrides=[f"data.root={objects_32px}", *FAST]), num_scenes=2)
    assert not torch.allclose(cold.bank.planes[0], model.bank.planes[0])


def test_a_compact_rgb_start_gives_new_scenes_the_start_of_the_full_run(rgb_run, objects_32px, tmp_path, capsys):
    """`export --stage1` of an RGB run keeps its config, MLP and mean scene (float16 planes) and
    its training seconds; warm scenes started from it are those the full run starts."""
    from latentscenes.config import load_config
    from latentscenes.engine.checkpoint import latest_meta, load_checkpoint
    from latentscenes.recipes.rgb import FitRGBConfig, build_rgb_model

    compact = tmp_path / "rgb-start"
    assert main(["export", str(rgb_run), "--stage1", "--out", str(compact)]) == 0
    assert f"init_from={compact}" in capsys.readouterr().out
    kept, meta = load_checkpoint(compact / "checkpoints")
    assert set(kept) == {"model.bank.planes"} | {key for key in load_checkpoint(rgb_run / "checkpoints")[0]
                                                 if key.startswith("model.mlp.")}
    assert kept["model.bank.planes"].shape[0] == 1 and kept["model.bank.planes"].dtype == torch.float16
    assert meta["train_seconds"] == latest_meta(rgb_run / "checkpoints")["train_seconds"]
    models = [build_rgb_model(load_config(FitRGBConfig, overrides=[f"data.root={objects_32px}", *FAST,
                                                                    f"init_from={start}"]), num_scenes=2)
              for start in (rgb_run, compact)]
    torch.testing.assert_close(models[1].bank.planes, models[0].bank.planes, atol=2e-3, rtol=1e-3)
    for key, value in models[0].mlp.state_dict().items():
        assert torch.equal(models[1].mlp.state_dict()[key], value), key
    from latentscenes.engine.runs import open_run
    from latentscenes.errors import LatentScenesError
    from latentscenes.recipes.restore import load_trained

    with pytest.raises(LatentScenesError, match=f"holds the mean of its scenes.*init_from={compact}"):
        load_trained(open_run(compact))  # it is a start, not the scenes it averaged


def test_the_shipped_rgb_start_starts_the_rgb_recipes_scenes_and_an_unknown_one_is_named(objects_32px, capsys, tmp_path):
    """builtin:torcs-cars-rgb (the demo's warm start) fits recipe `rgb`'s planes and MLP; its
    float16 mean scene becomes every new scene."""
    from latentscenes.config import load_config
    from latentscenes.engine.checkpoint import load_checkpoint
    from latentscenes.recipes.catalog import RECIPES
    from latentscenes.recipes.rgb import FitRGBConfig, build_rgb_model
    from latentscenes.weights import RGB_START, builtin_folder, builtin_names, provenance

    assert builtin_names(RGB_START) == ["torcs-cars-rgb"]
    config = load_config(FitRGBConfig, overrides=[f"data.root={objects_32px}", "init_from=builtin:torcs-cars-rgb"],
                         base=RECIPES["rgb"].settings)
    shipped, meta = load_checkpoint(builtin_folder("builtin:torcs-cars-rgb", kind=RGB_START) / "checkpoints")
    assert shipped["model.bank.planes"].dtype == torch.float16 and meta["scenes_averaged"] == 59
    model = build_rgb_model(config, num_scenes=2)
    assert torch.equal(model.bank.planes[1], shipped["model.bank.planes"][0].float())
    record = provenance("builtin:torcs-cars-rgb")
    assert record["train_seconds"] == pytest.approx(meta["train_seconds"], abs=0.01)
    assert not set(record["trained_on"]["meshes"]) & set(record["heldout_meshes"])
    run = tmp_path / "r"
    assert main(["fit", "--space", "rgb", "--data", str(objects_32px), "--run", str(run), "init_from=builtin:nothing"]) == 2
    error = capsys.readouterr().err
    assert "config key 'init_from'" in error and "builtin:torcs-cars-rgb" in error and not run.exists()


def test_an_unfinished_rgb_run_is_not_exported_as_a_start(objects_32px, tmp_path, capsys):
    run = tmp_path / "rgb"
    assert main(["fit", "--space", "rgb", "--data", str(objects_32px), "--run", str(run), *FAST, "fit.steps=2"]) == 0
    (run / "curve.json").unlink()
    assert main(["export", str(run), "--stage1", "--out", str(tmp_path / "start")]) == 2
    assert "has not finished training" in capsys.readouterr().err and not (tmp_path / "start").exists()


def test_warm_start_refuses_other_runs_and_other_plane_sizes(rgb_run, objects_32px, tmp_path, capsys):
    def fit(run, *overrides):
        return main(["fit", "--space", "rgb", "--data", str(objects_32px), "--run", str(run), *FAST, *overrides])

    assert fit(tmp_path / "a", f"init_from={tmp_path}") == 2
    assert "is not a run folder" in capsys.readouterr().err and not (tmp_path / "a").exists()
    assert fit(tmp_path / "b", f"init_from={rgb_run}", "planes.channels=8") == 2
    assert "config key 'planes.channels' is 8" in capsys.readouterr().err and not (tmp_path / "b").exists()


def test_a_crop_is_refused_for_rgb_scenes_before_a_run_folder_exists(objects_32px, tmp_path, capsys):
    run = tmp_path / "rgb"
    assert main(["fit", "--space", "rgb", "--data", str(objects_32px), "--run", str(run), *FAST, "fit.crop=16"]) == 2
    error = capsys.readouterr().err
    assert "config key 'fit.crop'" in error and error.count("\n") == 1 and not run.exists()


def test_ultralight_scenes_fit_through_the_loop(objects_32px, tmp_path):
    """ULW (planes.micro_channels=0): scenes are only base weights and a bias, trained with the
    bases and the MLP; 40 steps must clear the white-background score (~10-13 dB) by far."""
    run = tmp_path / "ulw"
    ulw = ["planes.micro_macro=true", "planes.micro_channels=0", "planes.num_bases=8", "fit.lr.weights=1e-2",
           "fit.lr.bases=1e-2", "fit.lr.planes=0", "fit.steps=40", "fit.rays_per_view=64", "eval.every=40",
           "eval.views=2"]
    assert main(["fit", "--space", "rgb", "--data", str(objects_32px), "--run", str(run), *FAST, *ulw]) == 0
    curve = json.loads((run / "curve.json").read_text())
    assert curve["points"][-1]["test_psnr"] > 18.0


def test_eval_first_chooses_which_scenes_the_curve_and_renders_follow(objects_32px, tmp_path):
    """eval.first=2 eval.scenes=1: only the third scene is evaluated during training, and
    its curve PSNR is `eval`'s on the same views."""
    run = tmp_path / "third"
    assert main(["fit", "--space", "rgb", "--data", str(objects_32px), "--run", str(run), *FAST, "fit.steps=4",
                 "eval.every=0", "eval.views=2", "eval.first=2", "eval.scenes=1"]) == 0
    ids = sorted(path.name for path in objects_32px.iterdir() if path.is_dir())
    assert [path.name for path in (run / "renders").iterdir()] == [f"{ids[2]}-test.png"]
    assert main(["eval", str(run), "--splits", "test", "--max-views", "2"]) == 0
    scenes = json.loads((run / "eval.json").read_text())["scenes"]
    curve = json.loads((run / "curve.json").read_text())["points"][-1]
    assert curve["test_psnr"] == pytest.approx(scenes[ids[2]]["test"]["psnr"], abs=1e-4)


def test_a_phase_stops_early_once_the_validation_psnr_plateaus(objects_32px, tmp_path):
    """fit.patience=2 with a gain no run can make: the phase ends after its third evaluation
    (two without the gain), not at fit.steps, and the run finishes there."""
    run = tmp_path / "early"
    assert main(["fit", "--space", "rgb", "--data", str(objects_32px), "--run", str(run), *FAST,
                 "data.num_val_views=2", "fit.steps=40", "eval.every=2", "eval.views=1", "fit.patience=2",
                 "fit.min_gain=100"]) == 0
    curve = json.loads((run / "curve.json").read_text())["points"]
    assert [point["step"] for point in curve] == [2, 4, 6] and all("val_psnr" in point for point in curve)
    assert json.loads((run / "checkpoints" / "step-00000006" / "meta.json").read_text())["phase_index"] == 1


@pytest.mark.parametrize(("extra", "needs"), [([], "data.num_val_views"), (["data.num_val_views=2", "eval.every=0"], "eval.every")])
def test_early_stopping_without_validation_views_or_evaluations_is_refused(objects_32px, tmp_path, capsys, extra, needs):
    run = tmp_path / "refused"
    assert main(["fit", "--space", "rgb", "--data", str(objects_32px), "--run", str(run), *FAST, "fit.patience=2",
                 *extra]) == 2
    error = capsys.readouterr().err
    assert "config key 'fit.patience'" in error and needs in error and error.count("\n") == 1 and not run.exists()


def test_eval_first_past_the_last_scene_is_refused_and_leaves_no_run(objects_32px, tmp_path, capsys):
    run = tmp_path / "past"
    run.mkdir()  # an empty folder the user made stays, empty
    assert main(["fit", "--space", "rgb", "--data", str(objects_32px), "--run", str(run), *FAST, "data.count=2",
                 "eval.first=2"]) == 2
    error = capsys.readouterr().err
    assert "config key 'eval.first' (2)" in error and "2 scenes" in error and error.count("\n") == 1
    assert run.is_dir() and list(run.iterdir()) == []
