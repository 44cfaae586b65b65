"""`latentscenes demo` end to end on a few pybullet objects with tiny step counts: every
stage runs, overrides reach the run they name, the summary holds both runs' figures, and
the report it writes opens in headless Chromium with every picture and video loaded."""

import contextlib
import io
import json

import pytest
import torch
import yaml
from baselines import best_constant_psnr
from chromium import find_chromium, open_and_check

from latentscenes.cli.main import main
from latentscenes.engine.runs import open_run
from latentscenes.recipes.restore import load_trained

FAST_RENDER = ["render.samples=8", "render.importance_samples=8", "logging.backend=none"]
STAGE1 = ["scenes.steps=4", "scenes.scenes_per_batch=3", "joint.steps=2", "joint.scenes_per_batch=3", *FAST_RENDER]
LATENT = ["encode.steps=4", "encode.scenes_per_batch=3", "decode.steps=2", "decode.scenes_per_batch=3", "eval.every=2",
          *FAST_RENDER]
RGB = ["fit.steps=4", "fit.scenes_per_batch=3", "eval.every=2", *FAST_RENDER]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo's folder and what it printed."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    overrides = [*STAGE1, *(f"latent.{item}" for item in LATENT), *(f"rgb.{item}" for item in RGB)]
    args = ["demo", "--out", str(out), "--source", "pybullet-objects", "--scenes", "6", "--views", "14", "--size", "32"]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main([*args, "--no-progress", *overrides]) == 0
    return out, printed.getvalue()


@pytest.mark.slow  # the demo fixture: three training runs in fresh processes and a report
def test_demo_runs_both_stages_and_the_baseline_and_compares_them(demo):
    out, printed = demo
    configs = {name: yaml.safe_load((out / "runs" / name / "config.yaml").read_text()) for name in ("stage1", "latent", "rgb")}
    assert configs["stage1"]["scenes"]["steps"] == 4 and configs["stage1"]["joint"]["steps"] == 2
    assert configs["latent"]["encode"]["steps"] == 4 and configs["latent"]["decode"]["steps"] == 2
    assert configs["rgb"]["fit"]["steps"] == 4
    summary = json.loads((out / "demo.json").read_text())
    assert summary["data"]["stage1_scenes"] + summary["data"]["new_scenes"] == 6
    assert not set(summary["data"]["stage1_meshes"]) & set(summary["data"]["new_meshes"])
    for run in ("latent", "rgb"):
        curve = summary[run]["curve"]
        assert curve[-1]["step"] == (6 if run == "latent" else 4)
        assert summary[run]["train_seconds"] == curve[-1]["train_seconds"]
        assert curve[-1]["test_psnr"] > curve[0]["test_psnr"], curve
    # six steps from the mean stage-1 scene in the shipped autoencoder's latent space already
    # beat the best constant image of each held-out view (RGB scenes need far more steps)
    _, new_cars = load_trained(open_run(out / "runs" / "latent"))
    views = torch.cat([scene.model_images(scene.split("test")) for scene in new_cars.scenes])
    assert summary["latent"]["test"]["psnr"] > best_constant_psnr(views) + 2.0
    assert summary["stage1"]["autoencoder_on_new_cars"]["psnr"] > 15  # the shipped autoencoder, barely changed
    latent_curve, rgb_curve = summary["latent"]["curve"], summary["rgb"]["curve"]
    matched = summary["matched"]
    assert matched["psnr"] == min(latent_curve[-1]["test_psnr"], rgb_curve[-1]["test_psnr"])
    assert matched["speedup"] == matched["slow_seconds"] / matched["fast_seconds"]
    near = summary["near_rgb_plateau"]
    assert near["slow"]["final"] == rgb_curve[-1]["test_psnr"] and near["fast"]["final"] == latent_curve[-1]["test_psnr"]
    assert near["matched"]["psnr"] == rgb_curve[-1]["test_psnr"] - 1.0
    one_time = sum(summary["one_time_seconds"].values())
    assert summary["one_time_seconds"]["stage1"] == summary["stage1"]["train_seconds"]
    new = summary["data"]["new_scenes"]
    if near["matched"]["speedup"] is None:
        assert summary["amortised"] == []
    else:
        assert [row["scenes"] for row in summary["amortised"]] == [17, 100, 1000]
    for row in summary["amortised"]:
        fast = near["matched"]["fast_seconds"] / new + one_time / row["scenes"]
        assert row["speedup"] == pytest.approx(near["matched"]["slow_seconds"] / new / fast)
    assert "latent Tri-Planes" in printed and "RGB Tri-Planes" in printed and "faster" in printed
    threads = torch.get_num_threads()  # the demo ran in this process, with its threads
    side_by_side = threads >= 2  # then the RGB baseline trained beside stages 1 and 2, each with half
    assert summary["threads"] == {"side_by_side": side_by_side, "rgb": threads // 2 if side_by_side else threads,
                                  "stage1_and_latent": threads - threads // 2 if side_by_side else threads}
    assert ("trained beside stages 1 and 2" in printed) == side_by_side
    assert f"to reach {near['matched']['psnr']:.2f} dB" in printed and "over its last quarter" in printed


@pytest.mark.slow  # the demo fixture: three training runs in fresh processes and a report
def test_demo_writes_the_report_and_prints_its_path(demo, tmp_path):
    out, printed = demo
    assert f"report: {out / 'report.html'}" in printed
    page = (out / "report.html").read_text()
    summary = json.loads((out / "demo.json").read_text())
    # the verdict states the demo's own figures: both PSNRs and the matched-PSNR speed-up
    assert f"latent {summary['latent']['test']['psnr']:.2f} dB vs RGB {summary['rgb']['test']['psnr']:.2f} dB" in page
    speedup = summary["matched"]["speedup"]
    assert (f"latent {speedup:.1f}x faster" if speedup >= 1 else f"RGB {1 / speedup:.1f}x faster") in page
    if find_chromium() is None:
        pytest.skip("chromium is not installed (.ci/run installs it)")
    state, errors = open_and_check(find_chromium(), out / "report.html", tmp_path / "demo-report.png")
    assert errors == []
    assert all(i["complete"] and i["width"] > 0 for i in state["images"]), state
    assert len(state["videos"]) == 3 and all(v["ready"] >= 2 for v in state["videos"]), state  # one per run


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

    from latentscenes.recipes.rgb import FitRGBConfig
    from latentscenes.studies.demo import _stage

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run, result = _stage(tmp_path / "rgb", FitRGBConfig, "fit-rgb", _report_process, "demo-fit-rgb.yaml", [])
        resumed = _stage(tmp_path / "rgb", FitRGBConfig, "fit-rgb", _report_process, "demo-fit-rgb.yaml", [])[1]
    finally:
        torch.set_num_threads(threads)
    first, again = result["history"][0], resumed["history"][0]
    assert first["pid"] != os.getpid() and again["pid"] not in (os.getpid(), first["pid"])
    assert first["threads"] == 1 and not first["resume"] and again["resume"]
    assert run.root == tmp_path / "rgb" and (run.root / "config.yaml").is_file()


@pytest.mark.parametrize("bad", ["scenes.stepz=3", "latent.encode.steps=many", "rgb.fit.stepz=3"])
def test_a_bad_override_fails_before_anything_is_built_with_one_clear_error(tmp_path, capsys, bad):
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--source", "pybullet-objects", "--scenes", "6", "--views", "14", "--size", "32"]
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
    args = ["demo", "--out", str(out), "--source", "pybullet-objects", "--scenes", "6", "--views", "14", "--size", "32"]
    assert main([*args, "--no-progress", *extra]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1 and "Traceback" not in error
    assert not (out / "data" / "meta.json").exists() and not (out / "runs").exists()


@pytest.mark.parametrize(("flag", "side_by_side"), [([], True), (["--one-at-a-time"], False)])
def test_one_at_a_time_reaches_the_demo_settings(monkeypatch, tmp_path, flag, side_by_side):
    from cli_capture import settings_passed_to

    from latentscenes.cli import demo as demo_cli

    argv = ["demo", "--out", str(tmp_path / "demo"), "--source", "pybullet-objects", *flag]
    assert settings_passed_to(monkeypatch, demo_cli, "run_demo", argv).side_by_side is side_by_side
