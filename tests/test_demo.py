"""`latentscenes demo` end to end on a few pybullet objects with tiny step counts: every
stage runs (stage 1 trained: the shipped one is for TORCS cars), overrides reach the run they
name, the summary holds `compare`'s figures of both runs, and the report it writes opens in
headless Chromium with every picture and video loaded."""

import contextlib
import io
import json

import pytest
import torch
import yaml
from baselines import best_constant_psnr
from chromium import find_chromium, open_and_check

from latentscenes.cli.main import main
from latentscenes.engine.checkpoint import latest_meta
from latentscenes.engine.runs import open_run
from latentscenes.recipes.restore import load_trained
from latentscenes.recipes.catalog import RECIPES as CATALOG
from latentscenes.studies.demo import RECIPES, DemoSettings, shipped_rgb_start_for, shipped_stage1_for
from latentscenes.weights import provenance

FAST_RENDER = ["render.samples=8", "render.importance_samples=8", "logging.backend=none"]
STAGE1 = ["scenes.steps=40", "scenes.scenes_per_batch=3", *FAST_RENDER]
LATENT = ["encode.steps=30", "encode.scenes_per_batch=2", "decode.steps=2", "decode.scenes_per_batch=2", "eval.every=8",
          *FAST_RENDER]
RGB = ["fit.steps=4", "fit.scenes_per_batch=2", "eval.every=2", *FAST_RENDER]
SMALL_BUILD = ["--source", "pybullet-objects", "--scenes", "6", "--views", "14", "--size", "32"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo's folder and what it printed."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    overrides = [*STAGE1, *(f"latent.{item}" for item in LATENT), *(f"rgb.{item}" for item in RGB)]
    args = ["demo", "--out", str(out), *SMALL_BUILD, "--new-scenes", "2", "--first-new", "1"]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main([*args, "--no-progress", *overrides]) == 0
    return out, printed.getvalue()


@pytest.mark.slow  # the demo fixture: three training runs in fresh processes and a report
def test_demo_runs_both_stages_and_the_baseline_and_compares_them(demo):
    out, printed = demo
    configs = {name: yaml.safe_load((out / "runs" / name / "config.yaml").read_text()) for name in ("stage1", "latent", "rgb")}
    assert configs["stage1"]["scenes"]["steps"] == 40 and configs["stage1"]["planes"]["num_bases"] == 8
    assert configs["latent"]["encode"]["steps"] == 30 and configs["latent"]["decode"]["steps"] == 2
    assert configs["rgb"]["fit"]["steps"] == 4
    summary = json.loads((out / "demo.json").read_text())
    data = summary["data"]
    assert data["stage1_scenes"] + data["holdout_scenes"] == 6 and data["new_scenes"] == 2
    assert data["new_start"] == data["stage1_scenes"] + 1  # the second held-out scene: --first-new 1
    assert configs["latent"]["data"]["start"] == configs["rgb"]["data"]["start"] == data["new_start"]
    assert not set(data["stage1_meshes"]) & set(data["new_meshes"])
    assert summary["stage1"]["source"] == str(out / "runs" / "stage1") and "trained here" in summary["stage1"]["why"]
    comparison = summary["comparison"]
    methods = comparison["methods"]
    for name, steps in (("latent", 32), ("rgb", 4)):
        curve = json.loads((out / "runs" / name / "curve.json").read_text())["points"]
        assert methods[name]["steps"] == curve[-1]["step"] == steps
        assert methods[name]["render_ms_128"] > 0  # one 128 px view of the run's first scene
        assert methods[name]["curve_end"] == curve[-1]["test_psnr"] and curve[-1]["test_psnr"] > curve[0]["test_psnr"]
        evaluation = json.loads((out / "runs" / name / "eval.json").read_text())  # written in the run's own process
        assert methods[name]["held_out"]["psnr"] == evaluation["mean"]["test"]["psnr"]
        assert methods[name]["gap"] == pytest.approx(evaluation["mean"]["train"]["psnr"] - evaluation["mean"]["test"]["psnr"])
    assert comparison["target_psnr"] == methods["rgb"]["curve_end"] - 1.0
    assert methods["latent"]["one_time_seconds"]["stage1"] == summary["stage1"]["train_seconds"] > 0
    # 32 steps from the mean stage-1 scene in the shipped 1x autoencoder's latent space already
    # beat the best constant image of each held-out view (RGB scenes need far more steps)
    _, new_cars = load_trained(open_run(out / "runs" / "latent"))
    views = torch.cat([scene.model_images(scene.split("test")) for scene in new_cars.scenes])
    assert methods["latent"]["held_out"]["psnr"] > best_constant_psnr(views) + 2.0
    assert summary["stage1"]["autoencoder_on_new_cars"]["psnr"] > 15  # the shipped autoencoder, unchanged
    assert "latent Tri-Planes" in printed and "RGB, cold start" in printed and "latent vs RGB, cold start" in printed
    assert f"cold RGB's curve end - 1 dB" in printed and "stage 1: " in printed
    assert f"latent render + decode {methods['latent']['render_ms_128']:.0f} ms" in printed
    threads = torch.get_num_threads()  # the demo ran in this process, with its threads
    side_by_side = threads >= 2  # then the RGB baseline trained beside stages 1 and 2, each with half
    assert summary["threads"] == {"side_by_side": side_by_side, "rgb": threads // 2 if side_by_side else threads,
                                  "stage1_and_latent": threads - threads // 2 if side_by_side else threads}
    assert ("trained one after the other beside stages 1 and 2" in printed) == side_by_side


@pytest.mark.slow  # the demo fixture
def test_the_warm_rgb_control_starts_from_an_rgb_run_on_the_stage1_scenes_and_is_compared(demo):
    """No shipped RGB start fits pybullet objects: the demo trains one on the stage-1 scenes,
    and the warm control on the new scenes starts from its mean scene and MLP."""
    out, printed = demo
    summary = json.loads((out / "demo.json").read_text())
    start = out / "runs" / "rgb-stage1"
    configs = {name: yaml.safe_load((out / "runs" / name / "config.yaml").read_text()) for name in ("rgb-stage1", "rgb-warm")}
    assert configs["rgb-stage1"]["data"]["start"] == 0 and configs["rgb-stage1"]["data"]["count"] == summary["data"]["stage1_scenes"]
    assert configs["rgb-warm"]["init_from"] == str(start.resolve()) and configs["rgb-warm"]["fit"]["steps"] == 4
    assert configs["rgb-warm"]["data"]["start"] == summary["data"]["new_start"]
    assert summary["rgb_start"]["source"] == str(start.resolve()) and "trained here" in summary["rgb_start"]["why"]
    methods = summary["comparison"]["methods"]
    trained = latest_meta(start / "checkpoints")["train_seconds"]
    assert methods["warm_rgb"]["one_time_seconds"]["earlier_rgb"] == summary["rgb_start"]["train_seconds"] == trained > 0
    assert "warm_rgb" in summary["comparison"]["latent_vs"] and "latent vs RGB, warm start" in printed
    evaluation = json.loads((out / "runs" / "rgb-warm" / "eval.json").read_text())
    assert methods["warm_rgb"]["held_out"]["psnr"] == evaluation["mean"]["test"]["psnr"]


@pytest.mark.slow  # the demo fixture: three training runs in fresh processes and a report
def test_demo_writes_the_report_and_prints_its_path(demo, tmp_path):
    out, printed = demo
    assert f"report: {out / 'report.html'}" in printed
    page = (out / "report.html").read_text()
    methods = json.loads((out / "demo.json").read_text())["comparison"]["methods"]
    # the verdict states the demo's own figures: both PSNRs, and the time to the same target as compare's
    assert f"latent {methods['latent']['held_out']['psnr']:.2f} dB vs RGB {methods['rgb']['held_out']['psnr']:.2f} dB" in page
    # the warm control's verdict too, at the same target: 1 dB below the cold RGB curve's end
    assert page.count(f"{methods['rgb']['curve_end'] - 1:.2f} dB on the evaluation views (1 dB below the curve end of rgb)") == 2
    if find_chromium() is None:
        pytest.skip("chromium is not installed (.ci/run installs it)")
    state, errors = open_and_check(find_chromium(), out / "report.html", tmp_path / "demo-report.png")
    assert errors == []
    assert all(i["complete"] and i["width"] > 0 for i in state["images"]), state
    assert len(state["videos"]) == 4 and all(v["ready"] >= 2 for v in state["videos"]), state  # one per run


def shipped_stage1(recipe: str) -> str:
    return CATALOG[RECIPES[recipe].stage1].shipped


TORCS_STAGE1_MESHES = provenance(shipped_stage1("latent-2x"))["trained_on"]["meshes"]


def test_both_shipped_stage1_runs_were_trained_on_the_same_cars():
    assert provenance(shipped_stage1("latent-1x"))["trained_on"] == provenance(shipped_stage1("latent-2x"))["trained_on"]


@pytest.mark.parametrize("recipe", sorted(RECIPES))
@pytest.mark.parametrize(
    ("change", "shipped"),
    [
        ({}, True),
        ({"train_stage1": True}, False),
        ({"overrides": ("scenes.steps=10",)}, False),
        ({"overrides": ("latent.encode.steps=10", "rgb.fit.steps=10")}, True),  # stage 2's and RGB's own
        ({"source": "flightgear-aircraft"}, False),
        ({"size": 64}, False),
        ({"meshes": TORCS_STAGE1_MESHES[1:]}, False),  # another split: a held-out mesh was in stage 1
    ],
)
def test_the_shipped_stage1_serves_only_the_cars_it_was_trained_on(tmp_path, change, shipped, recipe):
    change = dict(change)  # the parameter's dict serves every recipe
    meshes = change.pop("meshes", list(reversed(TORCS_STAGE1_MESHES)))
    settings = DemoSettings(out=tmp_path, recipe=recipe, **change)
    source, why = shipped_stage1_for(settings, meshes)
    assert (source == shipped_stage1(recipe)) is shipped and (source is None) is (not shipped)
    assert ("shipped with the package" in why) is shipped and ("trained here" in why) is (not shipped)


def _report_process(config, run, resume=False):
    """A stand-in training run: says which process it ran in and with how many threads."""
    import os

    import torch

    from latentscenes.engine.loop import LoopState

    state = LoopState()
    state.history = [{"pid": os.getpid(), "threads": torch.get_num_threads(), "resume": resume}]
    return state


def test_each_demo_run_gets_a_fresh_process_with_the_callers_threads(tmp_path):
    """Stage runs must not inherit the demo process's heap (stage 2 ran ~1.5x slower there)."""
    import os

    import torch

    from latentscenes.engine.fresh_process import train_in_fresh_process
    from latentscenes.recipes.rgb import FitRGBConfig
    from latentscenes.studies.demo import demo_settings

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rgb = (tmp_path / "rgb", FitRGBConfig, "fit-rgb", _report_process, None, [])
    try:
        run, result = train_in_fresh_process(*rgb, base=demo_settings("rgb"))
        resumed = train_in_fresh_process(*rgb, base=demo_settings("rgb"))[1]
    finally:
        torch.set_num_threads(threads)
    first, again = result["history"][0], resumed["history"][0]
    assert first["pid"] != os.getpid() and again["pid"] not in (os.getpid(), first["pid"])
    assert first["threads"] == 1 and not first["resume"] and again["resume"]
    assert run.root == tmp_path / "rgb" and (run.root / "config.yaml").is_file()


@pytest.mark.slow  # the demo fixture
def test_a_second_demo_asking_for_other_scenes_in_the_same_folder_fails_before_training(demo, capsys):
    """Its runs would resume with the earlier scenes and `compare` fail after all the training."""
    out, _ = demo
    before = {path: path.read_bytes() for path in (out / "runs").rglob("*") if path.is_file()}
    overrides = [*STAGE1, *(f"latent.{item}" for item in LATENT), *(f"rgb.{item}" for item in RGB)]
    args = ["demo", "--out", str(out), *SMALL_BUILD, "--new-scenes", "1", "--first-new", "1", "--no-progress"]
    assert main([*args, *overrides]) == 2
    error = capsys.readouterr().err
    assert "holds a run of an earlier demo with another data.count (2 there, 1 now)" in error and "use another --out" in error
    assert error.count("\n") == 1 and "Traceback" not in error
    assert {path: path.read_bytes() for path in (out / "runs").rglob("*") if path.is_file()} == before


def test_the_demo_leaves_the_rgb_runs_start_to_itself(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), *SMALL_BUILD, "--no-progress", "rgb.init_from=elsewhere"]) == 2
    error = capsys.readouterr().err
    assert "rgb.init_from" in error and error.count("\n") == 1 and not out.exists()


@pytest.mark.parametrize("bad", ["scenes.stepz=3", "latent.encode.steps=many", "rgb.fit.stepz=3"])
def test_a_bad_override_fails_before_anything_is_built_with_one_clear_error(tmp_path, capsys, bad):
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), *SMALL_BUILD]
    assert main([*args, "--no-progress", bad]) == 2
    error = capsys.readouterr().err
    key = bad.split("=")[0].removeprefix("latent.").removeprefix("rgb.")
    assert f"'{key}'" in error and error.count("\n") == 1 and "Traceback" not in error
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--flightgear-root", "fg"], "--flightgear-root only applies to the flightgear-aircraft source"),
        (["--torcs-root", "torcs"], "--torcs-root only applies to the torcs source"),
        (["--holdout-meshes", "1.5"], "--holdout-meshes must be a fraction in (0, 1) or a whole number"),
    ],
)
def test_a_bad_build_option_fails_before_anything_is_built(tmp_path, capsys, extra, message):
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), *SMALL_BUILD]
    assert main([*args, "--no-progress", *extra]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1 and "Traceback" not in error
    assert not (out / "data" / "meta.json").exists() and not (out / "runs").exists()


def test_an_unknown_recipe_is_one_clear_error_before_anything_is_built(tmp_path):
    from latentscenes.errors import LatentScenesError
    from latentscenes.studies.demo import run_demo

    with pytest.raises(LatentScenesError, match="--recipe must be one of latent-1x, latent-1x-short, latent-2x, got 'rgb'"):
        run_demo(DemoSettings(out=tmp_path / "demo", recipe="rgb"))
    assert not (tmp_path / "demo").exists()
    import subprocess
    import sys

    cli = subprocess.run([sys.executable, "-m", "latentscenes", "demo", "--out", str(tmp_path / "demo"), "--recipe", "rgb"],
                         capture_output=True, text=True)
    assert cli.returncode == 2 and "--recipe: invalid choice: 'rgb'" in cli.stderr and "Traceback" not in cli.stderr
    assert not (tmp_path / "demo").exists()


def test_more_new_scenes_than_the_build_holds_out_is_one_clear_error(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), *SMALL_BUILD, "--no-progress", "--first-new", "2", "--new-scenes", "9"]) == 2
    error = capsys.readouterr().err
    assert "--first-new 2 --new-scenes 9" in error and error.count("\n") == 1 and "Traceback" not in error
    assert not (out / "runs").exists()


@pytest.mark.slow  # three training runs in fresh processes and a report, as the demo fixture
def test_the_default_recipe_is_the_full_resolution_one_and_latent_2x_learns_in_its_own_space(demo, tmp_path):
    out, _ = demo
    summary = json.loads((out / "demo.json").read_text())
    assert summary["recipe"] == "latent-1x-short" and summary["autoencoder"]["source"] == "builtin:torcs-cars-1x"
    assert load_trained(open_run(out / "runs" / "latent"))[0].autoencoder.downsample_factor == 1
    out = tmp_path / "demo"
    overrides = [*STAGE1, *(f"latent.{item}" for item in LATENT), *(f"rgb.{item}" for item in RGB)]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["demo", "--out", str(out), *SMALL_BUILD, "--new-scenes", "2", "--first-new", "1",
                     "--recipe", "latent-2x", "--no-progress", *overrides]) == 0
    summary = json.loads((out / "demo.json").read_text())
    assert summary["recipe"] == "latent-2x" and summary["autoencoder"]["source"] == "builtin:torcs-cars-2x-3d"
    latent = yaml.safe_load((out / "runs" / "latent" / "config.yaml").read_text())
    assert latent["encode"]["decay_every"] == 60 and latent["eval"]["every"] == 8  # the 2x recipe, then the override
    model, new_cars = load_trained(open_run(out / "runs" / "latent"))
    assert model.autoencoder.downsample_factor == 2
    views = torch.cat([scene.model_images(scene.split("test")) for scene in new_cars.scenes])
    assert summary["comparison"]["methods"]["latent"]["held_out"]["psnr"] > best_constant_psnr(views) + 2.0


@pytest.mark.parametrize(("flag", "side_by_side"), [([], True), (["--one-at-a-time"], False)])
def test_one_at_a_time_reaches_the_demo_settings(monkeypatch, tmp_path, flag, side_by_side):
    from cli_capture import settings_passed_to

    from latentscenes.cli import demo as demo_cli

    argv = ["demo", "--out", str(tmp_path / "demo"), "--source", "pybullet-objects", *flag]
    assert settings_passed_to(monkeypatch, demo_cli, "run_demo", argv).side_by_side is side_by_side


@pytest.mark.parametrize(
    ("change", "shipped"),
    [
        ({}, True),
        ({"overrides": ("rgb.fit.steps=10", "latent.encode.steps=10", "scenes.steps=10")}, True),
        ({"overrides": ("rgb.planes.channels=16",)}, False),
        ({"overrides": ("rgb.mlp.hidden=32",)}, False),
        ({"source": "flightgear-aircraft"}, False),
        ({"meshes": TORCS_STAGE1_MESHES[1:]}, False),
    ],
)
def test_the_shipped_rgb_start_serves_only_the_cars_and_planes_it_was_trained_on(tmp_path, change, shipped):
    change = dict(change)
    meshes = change.pop("meshes", list(reversed(TORCS_STAGE1_MESHES)))
    source, why = shipped_rgb_start_for(DemoSettings(out=tmp_path, **change), meshes)
    assert (source == "builtin:torcs-cars-rgb") is shipped and (source is None) is (not shipped)
    assert ("shipped with the package" in why) is shipped and ("trained here" in why) is (not shipped)
