"""The command line itself: help texts, global options and bad input through the real CLI."""

import json

import pytest
import torch

from latentscenes.cli.main import SUBCOMMANDS, build_parser, main
from latentscenes.data import load_scenes
from latentscenes.evaluation.metrics import psnr


def test_help_lists_every_subcommand_and_each_has_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert f"    {name}" in text
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        assert "usage: latentscenes" in capsys.readouterr().out


def test_fit_help_lists_keys_of_both_spaces(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    text = capsys.readouterr().out
    assert "config keys of --space latent" in text and "encode.lr.planes" in text
    assert "config keys of --space rgb" in text and "fit.rays_per_view" in text


def test_threads_option_sets_torch_threads(objects_32px, capsys):
    before = torch.get_num_threads()
    try:
        assert main(["--threads", "1", "data", "info", str(objects_32px)]) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert "scenes:" in capsys.readouterr().out


def test_eval_of_a_folder_that_is_not_a_run_fails_clearly(tmp_path, capsys):
    assert main(["eval", str(tmp_path)]) == 2
    assert "is not a run folder" in capsys.readouterr().err


def test_resume_of_a_missing_run_fails_clearly(tmp_path, capsys):
    assert main(["train", "--run", str(tmp_path / "nothing"), "--resume"]) == 2
    assert "is not a run folder" in capsys.readouterr().err


def test_from_is_refused_for_rgb_and_required_for_latent(objects_32px, tmp_path, capsys):
    data = str(objects_32px)
    assert main(["fit", "--space", "rgb", "--data", data, "--run", str(tmp_path / "a"), "--from", str(tmp_path)]) == 2
    assert "--from is for --space latent" in capsys.readouterr().err
    assert main(["fit", "--space", "latent", "--data", data, "--run", str(tmp_path / "b")]) == 2
    assert "needs a stage-1 run" in capsys.readouterr().err
    assert main(["fit", "--space", "latent", "--data", data, "--run", str(tmp_path / "c"), "--from", str(tmp_path)]) == 2
    assert "is not a run folder" in capsys.readouterr().err
    assert not any((tmp_path / name).exists() for name in "abc")


def test_bad_config_file_is_named(objects_32px, tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("render:\n  samples: lots\n")
    assert main(["train", "--data", str(objects_32px), "--run", str(tmp_path / "r"), "--config", str(config)]) == 2
    assert "'render.samples'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_bench_render_writes_its_measurements(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "render", "--repeats", "1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    for case in ("latent", "rgb"):
        assert result[case]["ms_per_view"] > 0 and result[case]["samples_per_s"] > 0
    assert "latent" in capsys.readouterr().out


def test_bench_joint_cache_and_bank_report_their_figures(tmp_path, capsys):
    joint = tmp_path / "joint.json"
    args = ["--preset", "tiny", "--downsample", "4", "--size", "32", "--batch", "2", "--repeats", "1"]
    assert main(["bench", "joint", *args, "--json", str(joint)]) == 0
    result = json.loads(joint.read_text())
    assert result["batch"] == 2 and result["downsample"] == 4 and result["step_s"] > 0
    assert result["gflop_per_step"] > 0 and result["gflop_per_s"] > 0
    assert all(result["per_image"][key] > 0 for key in ("encoder_s", "decoder_s", "render_s"))
    assert main(["bench", "cache", *args]) == 0
    bank = tmp_path / "bank.json"
    assert main(["bench", "bank", "--scenes", "12", "--batch", "3", "--repeats", "1", "--json", str(bank)]) == 0
    result = json.loads(bank.read_text())
    assert result["sparse"]["sparse"] and not result["dense"]["sparse"] and result["speedup"] > 0
    out = capsys.readouterr().out
    assert "phase-B step" in out and "images/s" in out and "RowAdam" in out


def test_parser_builds_without_running_anything():
    assert build_parser().prog == "latentscenes"


def test_eval_of_an_autoencoder_on_a_dataset(objects_32px, tmp_path, capsys):
    from latentscenes.autoencoder import AutoencoderConfig, build_autoencoder, save_autoencoder

    ae = build_autoencoder(AutoencoderConfig(preset="tiny", downsample=4))
    folder = save_autoencoder(ae, tmp_path / "ae")
    out = tmp_path / "ae.json"
    args = ["eval", "--autoencoder", str(folder), "--data", str(objects_32px), "--start", "2", "--num-test-views", "4"]
    assert main([*args, "--splits", "test", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["data"]["scenes"] == 2 and set(result["mean"]) == {"test"}
    assert "psnr" in capsys.readouterr().out
    expected = []  # decode(encode(x)) with the posterior mean, scored here on the same views
    for scene in load_scenes(objects_32px, num_test_views=4, start=2).scenes:
        target = scene.model_images(scene.split("test"))
        with torch.no_grad():
            expected.append(psnr(ae.decode(ae.encode(target, sample=False)).clamp(-1, 1), target))
    assert result["mean"]["test"]["psnr"] == pytest.approx(float(torch.cat(expected).mean()), abs=1e-3)
    # an untrained autoencoder decodes resampled latents no better than its own reconstruction
    assert 0 < result["mean"]["test"]["warped_psnr"] < result["mean"]["test"]["psnr"] + 1
    assert main([*args, "--num-val-views", "3", "--splits", "val", "--json", str(out)]) == 0
    assert set(json.loads(out.read_text())["mean"]) == {"val"}
    assert main(["eval", "--autoencoder", str(folder)]) == 2
    assert "--data" in capsys.readouterr().err


def test_bad_autoencoder_inputs_fail_with_one_clear_error(objects_32px, tmp_path, capsys):
    assert main(["eval", "--autoencoder", "builtin:no-such-weights", "--data", str(objects_32px)]) == 2
    assert "builtin:torcs-cars" in capsys.readouterr().err
    assert main(["eval"]) == 2
    assert "RUN folder" in capsys.readouterr().err
    run = tmp_path / "crop"
    args = ["train", "--data", str(objects_32px), "--run", str(run), "autoencoder.vae=", "autoencoder.preset=tiny",
            "autoencoder.downsample=4"]
    for crop in ("40", "18"):  # larger than the 32 px images; not a multiple of 4
        assert main([*args, f"autoencoder.train_crop={crop}", "logging.progress=false"]) == 2
        assert "'autoencoder.train_crop'" in capsys.readouterr().err
        assert not run.exists()  # refused before the run folder is created
    # pretrained weights: their downsampling (4x) is known once loaded
    vae = ["train", "--data", str(objects_32px), "--run", str(tmp_path / "vae"), "autoencoder.vae=builtin:torcs-cars"]
    assert main([*vae, "autoencoder.train_crop=30", "logging.progress=false"]) == 2
    assert "multiple of the downsampling factor (4)" in capsys.readouterr().err
