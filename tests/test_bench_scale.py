"""`latentscenes bench scale` on a tiny stage-1 run: every field of bench.json, the table and the plot."""

import json
import math

import pytest
import torch
from baselines import best_constant_psnr

from latentscenes.bench.scale import sample_rows
from latentscenes.cli.main import main
from latentscenes.data import load_scenes

TINY = ["data.num_test_views=4", "render.samples=8", "render.importance_samples=8", "logging.backend=none",
        "logging.progress=false", "eval.views=2"]
STAGE1 = [
    "data.count=2", "autoencoder.vae=", "autoencoder.preset=tiny", "autoencoder.downsample=4", "planes.resolution=16",
    "planes.channels=8", "planes.micro_channels=3", "planes.num_bases=4", "warmup.steps=20", "warmup.scenes_per_batch=2",
    "warmup.views_per_scene=2", "scenes.steps=20", "scenes.scenes_per_batch=2", "scenes.views_per_scene=2",
    "joint.steps=4", "joint.scenes_per_batch=2", "joint.views_per_scene=1", "eval.every=0", *TINY,
]
SCALE = [f"{method}.{item}" for method in ("latent", "rgb") for item in TINY] + [
    "rgb.planes.resolution=16", "rgb.planes.channels=8", "latent.encode.scenes_per_batch=2",
]
FIELDS = {
    "seconds_per_scene", "psnr_test", "bytes_per_scene_effective", "render_ms_128", "peak_rss_bytes_per_scene",
    "wall_seconds", "peak_rss_bytes",
}


@pytest.mark.slow
def test_bench_scale_writes_every_field(objects_32px, tmp_path, capsys):
    data, stage1, out = str(objects_32px), tmp_path / "stage1", tmp_path / "scale"
    assert main(["train", "--data", data, "--run", str(stage1), *STAGE1]) == 0
    command = ["bench", "scale", "--from", str(stage1), "--data", data, "--start", "2", "--scenes", "2", "--quick",
               "--repeats", "1", "--out", str(out), *SCALE]
    assert main(command) == 0
    result = json.loads((out / "bench.json").read_text())
    [row] = result["scales"]
    assert row["num_scenes"] == 2
    for method in ("latent", "rgb"):
        values = row[method]
        assert FIELDS <= set(values)
        assert all(math.isfinite(values[key]) and values[key] > 0 for key in FIELDS), values
    # Latent scenes (which start as stage 1's mean scene) beat each test view's best constant
    # image; the RGB baseline's 20 quick steps start from noise and do not yet, but its curve rises.
    new_scenes = load_scenes(data, num_test_views=4, start=2, count=2).scenes
    constant = float(torch.tensor([best_constant_psnr(s.model_images(s.split("test"))) for s in new_scenes]).mean())
    assert row["latent"]["psnr_test"] > constant, (row["latent"]["psnr_test"], constant)
    rgb_curve = [point["test_psnr"] for point in row["rgb"]["curve"]]
    assert len(rgb_curve) >= 2 and rgb_curve[-1] > rgb_curve[0] + 0.1, rgb_curve
    latent, rgb = row["latent"], row["rgb"]
    for values in (latent, rgb):  # the run's wall time includes its evaluations
        assert values["wall_seconds"] > values["train_seconds_per_scene"] * 2
    # stage 1's training time is a one-time cost, amortised over the N scenes
    assert result["one_time_seconds"] > 0 and result["one_time"]["autoencoder"] == 0.0  # trained from scratch here
    assert result["one_time_seconds"] == result["one_time"]["stage1"]
    threads = torch.get_num_threads()  # the bench ran in this process: side by side from two threads on
    expected = {"latent": threads - threads // 2, "rgb": threads // 2} if threads >= 2 else {"latent": 1, "rgb": 1}
    assert result["threads_per_run"] == expected
    assert math.isclose(latent["seconds_per_scene"], latent["train_seconds_per_scene"] + result["one_time_seconds"] / 2)
    assert rgb["seconds_per_scene"] == rgb["train_seconds_per_scene"]
    # RGB planes 3 x 8 x 16 x 16 float32 = 24,576 bytes, Adam moments twice that, one int64 step count;
    # the shared MLP (8 -> 64 -> 1 + 3, with biases: 836 values) over N = 2
    assert rgb["bytes_per_scene_effective"] == 3 * 24_576 + 8 + 836 * 4 / 2
    matched = row["matched"]
    assert set(matched) == {"psnr", "latent_seconds_per_scene", "rgb_seconds_per_scene", "speedup", "speedup_amortised"}
    assert math.isclose(matched["speedup_amortised"], matched["rgb_seconds_per_scene"] / (
        matched["latent_seconds_per_scene"] + result["one_time_seconds"] / 2))
    table = (out / "bench.md").read_text()
    assert "| 2 | latent |" in table and "| 2 | rgb |" in table and table in capsys.readouterr().out
    assert (out / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Again with the PSNR on one scene: the finished runs are reused as they are, and measured again
    # because the PSNR setting changed (the stored measurement says what it was made with).
    assert latent["psnr_scene_ids"] == [scene.scene_id for scene in new_scenes]
    assert latent["first_scene"] == rgb["first_scene"] == new_scenes[0].scene_id
    assert main([*command, "--psnr-scenes", "1"]) == 0
    [again] = json.loads((out / "bench.json").read_text())["scales"]
    assert again["latent"]["psnr_scene_ids"] == [new_scenes[0].scene_id]
    assert again["latent"]["train_seconds_per_scene"] == latent["train_seconds_per_scene"]
    assert again["rgb"]["curve"] == rgb["curve"]
    stored = out / "runs" / "latent-2" / "scale-measure.json"  # the same settings read it back
    kept = json.loads(stored.read_text())
    stored.write_text(json.dumps({**kept, "measured": {**kept["measured"], "psnr_test": 99.0}}))
    assert main([*command, "--psnr-scenes", "1", "--target-psnr", "5"]) == 0
    [last] = json.loads((out / "bench.json").read_text())["scales"]
    assert last["latent"]["psnr_test"] == 99.0
    # --target-psnr: the time each curve needs to reach 5 dB, which both pass at their first point
    first = {method: last[method]["curve"][0]["train_seconds"] / 2 for method in ("latent", "rgb")}
    assert last["matched"]["psnr"] == 5.0
    assert last["matched"]["latent_seconds_per_scene"] == pytest.approx(first["latent"])
    assert last["matched"]["rgb_seconds_per_scene"] == pytest.approx(first["rgb"])
    assert "| 2 | 5.00 |" in (out / "bench.md").read_text()


def test_the_psnr_scenes_are_evenly_spaced():
    rows = sample_rows(1000, 100)
    assert len(rows) == 100 and rows[0] == 0 and rows[-1] == 999
    assert {b - a for a, b in zip(rows, rows[1:])} <= {10, 11}
    assert sample_rows(7, 100) == list(range(7)) and sample_rows(7, 1) == [0]


@pytest.mark.parametrize("bad", ["rgb.fit.stepz=3", "latent.micro_resolution=-1"])
def test_a_bad_override_fails_before_any_run_with_one_clear_error(tmp_path, capsys, bad):
    out = tmp_path / "scale"
    assert main(["bench", "scale", "--from", str(tmp_path / "stage1"), "--data", str(tmp_path / "data"),
                 "--out", str(out), bad]) == 2
    error = capsys.readouterr().err
    assert bad.split("=")[0].split(".", 1)[1] in error and error.count("\n") == 1
    assert not out.exists()


@pytest.mark.parametrize(("flag", "side_by_side"), [([], True), (["--one-at-a-time"], False)])
def test_one_at_a_time_reaches_the_bench_settings(monkeypatch, tmp_path, flag, side_by_side):
    from cli_capture import settings_passed_to

    import latentscenes.bench.scale as scale

    argv = ["bench", "scale", "--from", str(tmp_path), "--data", str(tmp_path), "--scenes", "2", *flag]
    assert settings_passed_to(monkeypatch, scale, "run_scale", argv).side_by_side is side_by_side
