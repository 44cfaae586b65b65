"""The bad-input corpus: broken datasets, configs, checkpoints and weights, each given to the
real CLI. Every one gets one line naming the file (or key) and the problem, exit status 2,
no traceback (unless --debug) and no change to an existing run."""

import hashlib
import os
import pickle
import shutil
from pathlib import Path

import pytest
from data_fixtures import write_srn_dataset
from PIL import Image
from tiny_runs import TINY_RGB

from latentscenes.cli.main import main
from latentscenes.errors import LatentScenesError


class Payload:
    """Unpickling this creates a file: proof that a pickle was (never) loaded."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A valid dataset and a finished run on it."""
    root = tmp_path_factory.mktemp("good")
    data = write_srn_dataset(root / "data", num_scenes=2, num_views=4, size=16)
    assert main(_new_rgb_run(data, root / "run")) == 0
    return data, root / "run"


def _new_rgb_run(data, run):
    return ["--threads", "1", "fit", "--space", "rgb", "--data", str(data), "--run", str(run), *TINY_RGB, "data.num_test_views=1"]


def _dataset(tmp_path, good):
    data = tmp_path / "data"
    shutil.copytree(good[0], data)
    return data


def _second_view(data, kind):
    return sorted((data / "scene_000" / kind).iterdir())[1]


def _edit_pose(path, edit):
    numbers = path.read_text().split()
    path.write_text(" ".join(edit(numbers)))


def _data_case(name, tmp_path, good):
    """Break a copy of the dataset; returns (dataset, file named in the error, problem)."""
    data = _dataset(tmp_path, good)
    image, pose = _second_view(data, "rgb"), _second_view(data, "pose")
    if name == "truncated png":
        image.write_bytes(image.read_bytes()[:80])
        return data, image, "corrupt image"
    if name == "zero-byte image":
        image.write_bytes(b"")
        return data, image, "corrupt image"
    if name == "wrong size":
        Image.new("RGB", (12, 16)).save(image)
        return data, image, "inconsistent image sizes"
    if name == "missing pose":
        pose.unlink()
        return data, pose, "missing pose"
    if name == "15-number pose":
        _edit_pose(pose, lambda numbers: numbers[:15])
        return data, pose, "16 numbers per pose"
    if name == "nan in pose":
        _edit_pose(pose, lambda numbers: [*numbers[:3], "nan", *numbers[4:]])
        return data, pose, "non-finite"
    if name == "non-orthonormal rotation":
        _edit_pose(pose, lambda numbers: [str(2 * float(numbers[0])), *numbers[1:]])
        return data, pose, "not orthonormal"
    if name == "missing intrinsics":
        (data / "scene_000" / "intrinsics.txt").unlink()
        return data, data / "scene_000" / "intrinsics.txt", "missing intrinsics"
    if name == "empty scene folder":
        (data / "scene_002").mkdir()
        return data, data / "scene_002", "empty scene folder"
    if name == "duplicate scene names":
        shutil.copytree(data / "scene_001", data / "SCENE_001")
        return data, data / "scene_001", "is also used by"
    if name == "symlink out of the dataset":
        shutil.move(data / "scene_001", tmp_path / "elsewhere")
        os.symlink(tmp_path / "elsewhere", data / "scene_001")
        return data, data / "scene_001", "leads outside the dataset folder"
    raise AssertionError(name)


DATA_CASES = [
    "truncated png", "zero-byte image", "wrong size", "missing pose", "15-number pose", "nan in pose",
    "non-orthonormal rotation", "missing intrinsics", "empty scene folder", "duplicate scene names",
    "symlink out of the dataset",
]


def _copy_of_run(tmp_path, good):
    copy = tmp_path / "copy"
    shutil.copytree(good[1], copy)
    return copy


def _other_case(name, tmp_path, good):
    """(argv, text naming the file or key, problem) for configs, checkpoints and weights."""
    data = str(good[0])
    fit = ["fit", "--space", "rgb", "--data", data, "--run", str(tmp_path / "new")]
    if name == "unknown config key":
        return [*fit, "planes.resolutoin=16"], "'planes.resolutoin'", "unknown"
    if name == "config value of the wrong type":
        return [*fit, "render.samples=lots"], "'render.samples'", "lots"
    if name == "checkpoint of a different config":
        copy = _copy_of_run(tmp_path, good)
        config = copy / "config.yaml"
        config.write_text(config.read_text().replace("resolution: 16", "resolution: 24"))
        return ["eval", str(copy)], str(copy / "checkpoints"), "does not match"
    if name == "truncated checkpoint":
        copy = _copy_of_run(tmp_path, good)
        for tensors in sorted((copy / "checkpoints").glob("step-*/tensors.safetensors")):
            tensors.write_bytes(tensors.read_bytes()[:-100])
        return ["eval", str(copy)], "tensors.safetensors", "damaged"
    if name == "pickle where a checkpoint is expected":
        copy = _copy_of_run(tmp_path, good)
        for tensors in sorted((copy / "checkpoints").glob("step-*/tensors.safetensors")):
            tensors.write_bytes(pickle.dumps(Payload(tmp_path / "unpickled")))
        return ["eval", str(copy)], "tensors.safetensors", "damaged"
    if name == "pickle where autoencoder weights are expected":
        from latentscenes.autoencoder import AutoencoderConfig, build_autoencoder, save_autoencoder

        folder = save_autoencoder(build_autoencoder(AutoencoderConfig(preset="tiny", downsample=4)), tmp_path / "ae")
        (folder / "diffusion_pytorch_model.safetensors").unlink()
        (folder / "diffusion_pytorch_model.bin").write_bytes(pickle.dumps(Payload(tmp_path / "unpickled")))
        return ["eval", "--autoencoder", str(folder), "--data", data], str(folder), "safetensors"
    if name == "unknown builtin weights":
        return ["eval", "--autoencoder", "builtin:no-such-car", "--data", data], "'no-such-car'", "builtin:torcs-cars"
    raise AssertionError(name)


OTHER_CASES = [
    "unknown config key", "config value of the wrong type", "checkpoint of a different config",
    "truncated checkpoint", "pickle where a checkpoint is expected", "pickle where autoencoder weights are expected",
    "unknown builtin weights",
]


def _snapshot(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


def _refused_with_one_line(argv, named, problem, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert named in lines[0] and problem in lines[0], lines[0]
    assert "Traceback" not in captured.out + captured.err
    with pytest.raises(LatentScenesError):  # --debug: the exception itself, for its traceback
        main(["--debug", *argv])
    capsys.readouterr()


@pytest.mark.parametrize("name", DATA_CASES)
def test_broken_dataset_is_refused_in_one_line(name, good, tmp_path, capsys):
    before = _snapshot(good[1])
    data, named, problem = _data_case(name, tmp_path, good)
    _refused_with_one_line(["data", "info", "--check", str(data)], str(named), problem, capsys)
    _refused_with_one_line(_new_rgb_run(data, tmp_path / "new"), str(named), problem, capsys)
    assert _snapshot(good[1]) == before
    assert not (tmp_path / "new").exists()  # the run that could not start left nothing behind


@pytest.mark.parametrize("name", OTHER_CASES)
def test_broken_config_checkpoint_or_weights_are_refused_in_one_line(name, good, tmp_path, capsys):
    before = _snapshot(good[1])
    argv, named, problem = _other_case(name, tmp_path, good)
    copy = _snapshot(tmp_path / "copy") if (tmp_path / "copy").exists() else None
    _refused_with_one_line(argv, named, problem, capsys)
    assert _snapshot(good[1]) == before
    if copy is not None:  # the broken run is left as it was, for the user to inspect
        assert _snapshot(tmp_path / "copy") == copy
    assert not (tmp_path / "unpickled").exists()
