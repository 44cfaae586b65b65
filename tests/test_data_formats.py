"""The registry of dataset formats: the one list that the loader, the config, the CLI and
detection read."""

import argparse
import typing

import numpy as np
import pytest
from data_fixtures import orbit_cameras, pinhole, render_sphere, write_srn_dataset, write_transforms_json

from latentscenes.cli import data as data_cli
from latentscenes.config import load_config
from latentscenes.data import DataConfig, detect_format, load_scenes, write_eg3d_dataset
from latentscenes.data.formats import FORMAT_NAMES, FORMATS, DatasetFormat
from latentscenes.data.srn import list_srn_scenes, read_srn_scene
from latentscenes.errors import ConfigError, DataError


def info_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="latentscenes")
    data_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    """One small dataset of each format, the same two sphere scenes in each."""
    top = tmp_path_factory.mktemp("formats")
    srn = write_srn_dataset(top / "srn", num_scenes=2, num_views=3, size=8)
    collection = load_scenes(srn, num_test_views=0)
    write_eg3d_dataset(top / "eg3d", collection.scenes)
    for scene in collection.scenes:
        write_transforms_json(
            top / "nerfstudio" / scene.scene_id, scene.images.numpy(), scene.cam2world.double().numpy(),
            scene.intrinsics[0].double().numpy(),
        )
    return {"srn": srn, "eg3d": top / "eg3d", "nerfstudio": top / "nerfstudio"}


def test_every_place_lists_the_registry(roots):
    assert FORMAT_NAMES == ("auto", *FORMATS) and set(FORMATS) == set(roots)
    assert typing.get_args(typing.get_type_hints(DataConfig)["format"]) == FORMAT_NAMES
    for name, root in roots.items():
        assert load_config(DataConfig, overrides=[f"format={name}"]).format == name
        assert info_parser().parse_args(["data", "info", str(root), "--format", name]).format == name
        assert detect_format(root) == name
        collection = load_scenes(root, format=name, num_test_views=1)
        assert collection.format == name and collection.scene_ids == ["scene_000", "scene_001"]
        assert np.array_equal(collection[1].images.numpy(), load_scenes(roots["srn"], num_test_views=1)[1].images.numpy())


def test_an_unknown_format_is_one_clear_error(roots, capsys):
    names = ", ".join(FORMAT_NAMES)
    with pytest.raises(DataError, match=f"unknown data format 'colmap'; choose one of {names}$"):
        load_scenes(roots["srn"], format="colmap")
    with pytest.raises(ConfigError, match="config key 'format' must be one of 'auto', 'nerfstudio', 'eg3d', 'srn'"):
        load_config(DataConfig, overrides=["format=colmap"])
    with pytest.raises(SystemExit) as exit_info:
        info_parser().parse_args(["data", "info", str(roots["srn"]), "--format", "colmap"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "invalid choice: 'colmap'" in error and "--format {auto,nerfstudio,eg3d,srn}" in error


def test_detection_prefers_a_file_that_names_its_format(tmp_path, roots):
    # A nerfstudio scene whose images sit in rgb/ also looks like one SRN scene: its
    # transforms.json decides.
    scene = tmp_path / "scene"
    K = pinhole(8)
    cameras = orbit_cameras(2)
    write_transforms_json(scene, render_sphere(cameras, K, 8, 8), cameras, K)
    (scene / "images").rename(scene / "rgb")
    text = (scene / "transforms.json").read_text().replace('"images/', '"rgb/')
    (scene / "transforms.json").write_text(text)
    assert detect_format(scene) == "nerfstudio"
    assert load_scenes(scene, num_test_views=0).num_views == [2]
    # the root's own files come before its sub-folders': an EG3D root with SRN scene folders
    (roots["eg3d"] / "scene_000" / "rgb").mkdir(exist_ok=True)
    try:
        assert detect_format(roots["eg3d"]) == "eg3d"
    finally:
        (roots["eg3d"] / "scene_000" / "rgb").rmdir()
    with pytest.raises(DataError, match="cannot tell the dataset format: expected one of nerfstudio"):
        detect_format(tmp_path / "scene" / "rgb")


def test_a_new_format_is_one_registry_entry(tmp_path, monkeypatch):
    # SRN scene folders listed in a scenes.txt: registered, it is detected and loaded with
    # every option of the loader, and named in the errors.
    root = write_srn_dataset(tmp_path, num_scenes=3, num_views=3, size=8)
    (root / "scenes.txt").write_text("scene_002\nscene_000\n")
    listed = DatasetFormat(
        name="listed", layout="a scenes.txt of SRN scene folders",
        marks=lambda folder: (folder / "scenes.txt").is_file(), collection=False,
        list_scenes=lambda root: [root / name for name in (root / "scenes.txt").read_text().split()],
        read_scene=read_srn_scene,
    )
    monkeypatch.setitem(FORMATS, "listed", listed)
    assert detect_format(root) == "listed"
    collection = load_scenes(root, num_test_views=1, start=1, size=4)
    assert collection.format == "listed" and collection.scene_ids == ["scene_000"] and collection.height == 4
    assert len(list_srn_scenes(root)) == 3  # the SRN reader itself is unchanged
    with pytest.raises(DataError, match="a scenes.txt of SRN scene folders"):
        detect_format(tmp_path / "scene_000" / "pose")
