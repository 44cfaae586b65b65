"""`latentscenes export`: the standalone reader renders an exported scene exactly as its run
does (RGB and latent), planes are the resolved micro-macro Tri-Planes, and the folder is
documented, complete or absent."""

import json

import pytest
import torch
from safetensors.torch import load_file

from latentscenes.cli.main import main
from latentscenes.engine.runs import open_run
from latentscenes.export import ExportedScenes
from latentscenes.recipes.restore import load_trained


@pytest.mark.parametrize("kind", ["rgb", "latent", "stage1"])
def test_an_exported_scene_renders_exactly_as_its_run_does(tiny_runs, tmp_path, kind, capsys):
    out = tmp_path / "export"
    assert main(["export", str(tiny_runs / kind), "--out", str(out)]) == 0
    assert "exported" in capsys.readouterr().out
    model, collection = load_trained(open_run(tiny_runs / kind))
    exports = ExportedScenes(out)  # nothing below reads the run folder
    assert exports.space == ("rgb" if kind == "rgb" else "latent")
    assert exports.scene_ids == collection.scene_ids
    for row, scene in enumerate(collection.scenes):
        exported = exports.scene(scene.scene_id)
        views = scene.split("test")[:2]
        rendered = exports.render(exported, exported.cam2world[views], exported.intrinsics[views], exported.height,
                                  exported.width)
        assert torch.equal(rendered.images, model.render_images(row, scene, views))
        assert (rendered.latents is None) == (kind == "rgb")


def test_exported_planes_are_the_resolved_micro_macro_planes(tiny_runs, tmp_path):
    out = tmp_path / "export"
    assert main(["export", str(tiny_runs / "stage1"), "--out", str(out)]) == 0
    model, _ = load_trained(open_run(tiny_runs / "stage1"))
    bank = model.bank
    meta = json.loads((out / "export.json").read_text())
    assert meta["planes"]["shape"] == [3, 8, 16, 16] and meta["planes"]["axes"] == [["x", "y"], ["x", "z"], ["y", "z"]]
    for row in range(3):
        planes = load_file(str(out / "scenes" / f"{row:06d}.safetensors"))["planes"]
        macro = bank.bias[row] + torch.einsum("m,mpchw->pchw", bank.weights[row], bank.bases)
        expected = torch.cat([bank.micro[row], macro], dim=1)  # (3, Cm + Cb, R, R)
        assert planes.shape == (3, 8, 16, 16)
        assert torch.allclose(planes, expected, atol=1e-6)
    assert {p.name for p in (out / "autoencoder").iterdir()} >= {"config.json", "normalizer.json"}


def test_export_never_writes_into_an_existing_folder(tiny_runs, tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["export", str(tiny_runs / "rgb"), "--out", str(out)]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]  # no staging folder left behind
