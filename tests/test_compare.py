"""`latentscenes compare`: the headline comparison of finished runs, checked on tiny runs whose
training curves are replaced by ones with a known answer."""

import json
import shutil

import pytest
from conftest import TINY_PLANES, TINY_RUN

from latentscenes.cli.main import main
from latentscenes.engine.checkpoint import latest_meta
from latentscenes.engine.runs import open_run
from latentscenes.recipes.restore import current_evaluation, evaluate_run


@pytest.fixture(scope="module")
def runs(tiny_runs, objects_32px, tmp_path_factory):
    """Copies of the tiny latent, stage-1 and cold RGB runs (scene 3), and a warm RGB run on
    scene 3 started from an RGB run on scenes 0-2."""
    root = tmp_path_factory.mktemp("compare")
    for name in ("latent", "stage1", "rgb"):
        shutil.copytree(tiny_runs / name, root / name)
    def rgb(run, *overrides):
        fit = ["fit", "--space", "rgb", "--data", str(objects_32px), "--run", str(root / run)]
        assert main([*fit, *TINY_PLANES, "fit.steps=4", *TINY_RUN, *overrides]) == 0

    rgb("rgb-s1", "data.count=3")
    rgb("warm", "data.start=3", "data.count=1", f"init_from={root / 'rgb-s1'}")
    rgb("whole", "data.start=3", "data.count=1", "fit.rays_per_view=0")
    return root


def _set_curve(run, points):
    (run / "curve.json").write_text(json.dumps({"num_scenes": 1, "points": points}))


def _write_step_costs(runs, **seconds_per_step):
    """runs/costs.json as `bench steps` writes it: {run name: {phase: seconds per step}}."""
    costs = {"runs": {
        str((runs / name).resolve()): {"kind": "fit-latent" if name == "latent" else "fit-rgb", "phases": {
            phase: {"seconds_per_step": seconds} for phase, seconds in phases.items()}}
        for name, phases in seconds_per_step.items()
    }}
    (runs / "costs.json").write_text(json.dumps(costs))


def _point(step, seconds, psnr):
    return {"step": step, "train_seconds": seconds, "test_psnr": psnr}


def test_speedups_and_amortised_costs_follow_from_the_curves(runs, capsys):
    # cold RGB ends at 20 dB: the target is 19 dB, reached by the latent run at 1.9 s, by cold RGB at
    # 7.6 s and by the warm control at 0.95 s (all linear between points)
    _set_curve(runs / "latent", [_point(1, 1.0, 10.0), _point(2, 2.0, 20.0), _point(3, 3.0, 20.5)])
    _set_curve(runs / "rgb", [_point(1, 4.0, 10.0), _point(2, 8.0, 20.0)])
    _set_curve(runs / "warm", [_point(1, 0.5, 10.0), _point(2, 1.0, 20.0), _point(3, 1.5, 22.0)])
    assert main(["compare", str(runs / "latent"), "--rgb", str(runs / "rgb"), "--warm-rgb", str(runs / "warm")]) == 0
    out = capsys.readouterr().out
    result = json.loads((runs / "latent" / "compare.json").read_text())
    assert result["target_psnr"] == pytest.approx(19.0)
    latent, cold, warm = (result["methods"][name] for name in ("latent", "rgb", "warm_rgb"))
    assert latent["seconds_per_scene_to_target"] == pytest.approx(1.9)
    assert cold["seconds_per_scene_to_target"] == pytest.approx(7.6)
    assert warm["seconds_per_scene_to_target"] == pytest.approx(0.95)
    assert latent["steps_to_target"] == pytest.approx(1.9) and warm["steps_to_target"] == pytest.approx(1.9)
    assert latent["late_rise"] == pytest.approx(20.5 - 20.125)  # its last quarter starts at 2.25 s, at 20.125 dB
    assert cold["one_time_seconds"] == {}
    stage1_seconds = latest_meta(runs / "stage1" / "checkpoints")["train_seconds"]
    assert latent["one_time_seconds"] == {"autoencoder": 0.0, "stage1": pytest.approx(stage1_seconds)}
    earlier = latest_meta(runs / "rgb-s1" / "checkpoints")["train_seconds"]
    assert warm["one_time_seconds"] == {"earlier_rgb": pytest.approx(earlier)}
    versus_cold, versus_warm = result["latent_vs"]["rgb"], result["latent_vs"]["warm_rgb"]
    assert versus_cold["speedup"] == pytest.approx(4.0) and versus_warm["speedup"] == pytest.approx(0.5)
    for row in versus_cold["amortised"]:
        assert row["speedup"] == pytest.approx(7.6 / (1.9 + stage1_seconds / row["scenes"]))
    for row in versus_warm["amortised"]:
        assert row["speedup"] == pytest.approx((0.95 + earlier / row["scenes"]) / (1.9 + stage1_seconds / row["scenes"]))
    assert [row["scenes"] for row in versus_cold["amortised"]] == [17, 100, 1000]
    # quality from eval.json (all held-out and training views), the gap is their difference
    evaluation = json.loads((runs / "latent" / "eval.json").read_text())
    assert latent["held_out"]["psnr"] == pytest.approx(evaluation["mean"]["test"]["psnr"])
    assert latent["gap"] == pytest.approx(evaluation["mean"]["train"]["psnr"] - evaluation["mean"]["test"]["psnr"])
    assert "4.00x as fast" in out and "0.50x as fast" in out and "to 19.00 dB" in out
    assert "RGB, warm start" in out and "at N = 1000" in out
    assert not any(method["target_at_first_point"] for method in (latent, cold, warm))


def test_a_curve_that_never_reaches_the_target_has_no_speedup_and_one_past_it_an_upper_bound(runs, capsys):
    _set_curve(runs / "latent", [_point(1, 1.0, 10.0), _point(2, 2.0, 15.0)])
    _set_curve(runs / "rgb", [_point(1, 4.0, 10.0), _point(2, 8.0, 20.0)])
    assert main(["compare", str(runs / "latent"), "--rgb", str(runs / "rgb"), "--json", str(runs / "c.json")]) == 0
    result = json.loads((runs / "c.json").read_text())
    assert result["methods"]["latent"]["seconds_per_scene_to_target"] is None
    assert result["latent_vs"]["rgb"] == {"speedup": None, "amortised": []}
    assert "not both reached it" in capsys.readouterr().out
    _set_curve(runs / "latent", [_point(1, 1.0, 19.5), _point(2, 2.0, 20.0)])
    assert main(["compare", str(runs / "latent"), "--rgb", str(runs / "rgb"), "--json", str(runs / "c.json")]) == 0
    result = json.loads((runs / "c.json").read_text())
    assert result["methods"]["latent"]["target_at_first_point"]  # 1 s per scene is an upper bound
    assert result["methods"]["latent"]["seconds_per_scene_to_target"] == pytest.approx(1.0)
    assert "<=1.0" in capsys.readouterr().out


def test_whole_image_rgb_that_never_reached_the_target_bounds_the_speedup_from_below(runs, capsys):
    # the latent run reaches 19 dB at 1.9 s; the whole-image run is still at 18 dB after 12 s, so it
    # would need more than 12 s: the latent scenes are at least 12 / 1.9 times as fast
    _set_curve(runs / "latent", [_point(1, 1.0, 10.0), _point(2, 2.0, 20.0)])
    _set_curve(runs / "rgb", [_point(1, 4.0, 10.0), _point(2, 8.0, 20.0)])
    _set_curve(runs / "whole", [_point(1, 6.0, 15.0), _point(2, 12.0, 18.0)])
    _write_step_costs(runs, latent={"encode": 0.5, "decode": 2.0}, rgb={"fit": 1.0}, whole={"fit": 10.0})
    assert main(["compare", str(runs / "latent"), "--rgb", str(runs / "rgb"), "--whole-image-rgb", str(runs / "whole"),
                 "--step-costs", str(runs / "costs.json"), "--json", str(runs / "c.json")]) == 0
    result = json.loads((runs / "c.json").read_text())
    whole, versus = result["methods"]["whole_image_rgb"], result["latent_vs"]["whole_image_rgb"]
    assert whole["seconds_per_scene_to_target"] is None and whole["starts_from"] == "random planes and MLP"
    assert versus["speedup"] is None and versus["at_least"] == pytest.approx(12.0 / 1.9)
    stage1_seconds = latest_meta(runs / "stage1" / "checkpoints")["train_seconds"]
    for row in versus["amortised"]:
        assert row["at_least"] == pytest.approx(12.0 / (1.9 + stage1_seconds / row["scenes"]))
    # by step costs: its 2 steps at 10 s against the latent run's 1.9 Encode-Scene steps at 0.5 s
    assert whole["step_seconds_per_scene"] == pytest.approx(20.0)
    assert versus["by_step_costs"]["at_least"] == pytest.approx(20.0 / 0.95)
    assert result["latent_vs"]["rgb"]["speedup"] == pytest.approx(4.0)  # the cold baseline as before
    out = capsys.readouterr().out
    assert "RGB, whole images" in out and f">= {12.0 / 1.9:.2f}x as fast" in out and "had not reached it" in out
    assert "more than 20.0 s per scene" in out


def test_eval_json_is_reused_only_for_the_latest_checkpoint_on_all_views(runs):
    run = open_run(runs / "rgb")
    written = evaluate_run(run, ("test", "train"))
    assert written["run"]["checkpoint"] == json.loads((runs / "rgb" / "checkpoints" / "latest.json").read_text())["name"]
    assert current_evaluation(run, ("test", "train")) == json.loads((runs / "rgb" / "eval.json").read_text())
    assert current_evaluation(run, ("val", "train")) is None  # a split it does not hold
    evaluate_run(run, ("test", "train"), max_views=1)
    assert current_evaluation(run, ("test", "train")) is None  # not all views
    evaluate_run(run, ("test", "train"))
    stale = json.loads((runs / "rgb" / "eval.json").read_text())
    stale["run"]["checkpoint"] = "step-00000001"
    (runs / "rgb" / "eval.json").write_text(json.dumps(stale))
    assert current_evaluation(run, ("test", "train")) is None  # an older checkpoint's


def test_runs_that_do_not_compare_are_refused(runs, objects_32px, tmp_path, capsys):
    def compare(*args):
        code = main(["compare", str(runs / "latent"), *args, "--json", str(tmp_path / "c.json")])
        return code, capsys.readouterr().err

    code, error = compare("--rgb", str(runs / "warm"))
    assert code == 2 and "is warm-started" in error
    code, error = compare("--rgb", str(runs / "rgb"), "--warm-rgb", str(runs / "rgb"))
    assert code == 2 and "starts cold" in error
    code, error = compare("--rgb", str(runs / "rgb-s1"))
    assert code == 2 and "different scenes or splits: data.start 3 vs 0" in error
    code, error = compare("--rgb", str(runs / "rgb"), "--whole-image-rgb", str(runs / "rgb"))
    assert code == 2 and "trained on 256 random rays per view, not whole images" in error
    code, error = compare("--rgb", str(runs / "rgb"), "--whole-image-rgb", str(runs / "warm"))
    assert code == 2 and "is warm-started" in error
    code, error = compare("--rgb", str(runs / "stage1"))
    assert code == 2 and "is a 'train' run, not a 'fit-rgb' run" in error
    code, error = compare("--rgb", str(runs / "rgb"), "--held-out", "val")
    assert code == 2 and "no validation views" in error
    other = tmp_path / "rgb-other-views"
    assert main(["fit", "--space", "rgb", "--data", str(objects_32px), "--run", str(other), *TINY_PLANES, "fit.steps=2",
                 *TINY_RUN, "data.start=3", "data.count=1", "eval.views=3"]) == 0
    code, error = compare("--rgb", str(other))
    assert code == 2 and "different views (eval.views 2 vs 3)" in error
    assert not (tmp_path / "c.json").exists()


def test_step_costs_price_each_phase_of_the_steps_to_the_target(runs, capsys):
    # the latent run has 3 Encode-Scene then 2 Decode-Scene steps: it reaches 19 dB at step 4.6,
    # 3 steps at 0.5 s and 1.6 at 2 s = 4.7 s; cold RGB at step 1.9, at 1 s a step
    _set_curve(runs / "latent", [_point(1, 1.0, 10.0), _point(5, 2.0, 20.0)])
    _set_curve(runs / "rgb", [_point(1, 4.0, 10.0), _point(2, 8.0, 20.0)])
    _write_step_costs(runs, latent={"encode": 0.5, "decode": 2.0}, rgb={"fit": 1.0})
    compare = ["compare", str(runs / "latent"), "--rgb", str(runs / "rgb"), "--json", str(runs / "c.json")]
    assert main([*compare, "--step-costs", str(runs / "costs.json")]) == 0
    result = json.loads((runs / "c.json").read_text())
    assert result["methods"]["latent"]["step_seconds_per_scene_to_target"] == pytest.approx(4.7)
    assert result["methods"]["rgb"]["step_seconds_per_scene_to_target"] == pytest.approx(1.9)
    assert result["latent_vs"]["rgb"]["by_step_costs"]["speedup"] == pytest.approx(1.9 / 4.7)
    assert result["latent_vs"]["rgb"]["speedup"] == pytest.approx(7.6 / 1.9)  # by the runs' own seconds, as before
    out = capsys.readouterr().out
    assert "by step costs" in out
    # rays per scene to the target, with the recommended recipe's batches: 3 Encode-Scene steps of 8
    # views x 64 rays, then 1.6 Decode-Scene steps of 4 views, each a 32 px window that is the whole
    # 8 x 8 latent view (32 px images, a 4x autoencoder); RGB 1.9 steps of 4 x 256
    latent, rgb = result["methods"]["latent"]["rays_to_target"], result["methods"]["rgb"]["rays_to_target"]
    assert latent["rays_per_scene"] == pytest.approx(3 * 8 * 64 + 1.6 * 4 * 64)
    assert rgb["rays_per_scene"] == pytest.approx(1.9 * 4 * 256)
    assert rgb["training_pixels_per_scene"] == 16 * latent["training_pixels_per_scene"]  # the same views, f = 4
    assert rgb["passes"] == pytest.approx(rgb["rays_per_scene"] / rgb["training_pixels_per_scene"])
    assert f"{rgb['passes']:.2f} passes" in out
    _write_step_costs(runs, latent={"encode": 0.5, "decode": 2.0})
    assert main([*compare, "--step-costs", str(runs / "costs.json")]) != 0
    assert "no entry for" in capsys.readouterr().err


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON"),
    ('{"runs": 3}', "is not a `latentscenes bench steps` result"),
    ('{"runs": {"r": {"phases": {"fit": {"seconds_per_step": "slow"}}}}}', "is not a `latentscenes bench steps` result"),
])
def test_a_step_costs_file_that_is_not_a_bench_steps_result_is_named_and_refused(runs, text, message, capsys):
    (runs / "costs.json").write_text(text)
    code = main(["compare", str(runs / "latent"), "--rgb", str(runs / "rgb"), "--json", str(runs / "bad.json"),
                 "--step-costs", str(runs / "costs.json")])
    error = capsys.readouterr().err
    assert code != 0 and message in error and "costs.json" in error
    assert not (runs / "bad.json").exists()
