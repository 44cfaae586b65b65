import argparse
import json

import numpy as np
import pytest
from data_fixtures import orbit_cameras, pinhole, render_sphere, write_srn_dataset, write_transforms_json

from latentscenes.cli import data as data_cli
from latentscenes.data import load_scenes, write_eg3d_dataset
from latentscenes.errors import DataError


def parse(argv):
    parser = argparse.ArgumentParser(prog="latentscenes")
    data_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


@pytest.fixture(scope="module")
def srn_root(tmp_path_factory):
    # 2 scenes x 8 views, 16 px, radius 1.3, elevations cycling -30, 10, 30, 50 degrees.
    return write_srn_dataset(tmp_path_factory.mktemp("info"), num_scenes=2, num_views=8, size=16)


def test_info_prints_the_summary(srn_root, capsys):
    assert data_cli.run(parse(["data", "info", str(srn_root)])) == 0
    out = capsys.readouterr().out
    f = 0.5 * 16 / np.tan(np.radians(25.0))
    assert "format:           srn" in out
    assert "scenes:           2" in out
    assert "views per scene:  min 8, mean 8.0, max 8" in out
    assert "resolution:       16x16" in out
    assert "camera radius:    1.300" in out
    assert "elevation:        -30.0 to 50.0 degrees" in out
    assert f"focal length:     {f:.2f} px (fx/W {f / 16:.4f})" in out


def test_info_with_size_and_above(srn_root, capsys):
    data_cli.run(parse(["data", "info", str(srn_root), "--size", "8", "--above", "-0.5", "--test-views", "2"]))
    out = capsys.readouterr().out
    assert "views per scene:  min 6, mean 6.0, max 6 (kept 12 of 16 views with height > -0.5)" in out
    assert "resolution:       8x8 (stored 16x16)" in out
    assert "elevation:        10.0 to 50.0 degrees" in out
    assert "split:            first 2 views" in out


def test_info_json_matches_loaded_data(srn_root, capsys):
    data_cli.run(parse(["data", "info", str(srn_root), "--json", "--check", "--count", "1"]))
    info = json.loads(capsys.readouterr().out)
    scene = load_scenes(srn_root, num_test_views=0, count=1)[0]
    assert info["num_scenes"] == 1 and info["checked_images"] is True
    assert info["focal_x"] == pytest.approx([scene.intrinsics[0, 0, 0].item()] * 2)
    radius = scene.cam2world[:, :3, 3].norm(dim=-1)
    assert info["camera_radius"] == pytest.approx([radius.min().item(), radius.max().item()], abs=1e-6)


def test_info_reads_eg3d_and_nerfstudio(tmp_path, srn_root, capsys):
    write_eg3d_dataset(tmp_path / "eg3d", load_scenes(srn_root, num_test_views=0))
    cams, K = orbit_cameras(3), pinhole(12)
    write_transforms_json(tmp_path / "ns", render_sphere(cams, K, 12, 12), cams, K)
    data_cli.run(parse(["data", "info", str(tmp_path / "eg3d")]))
    out = capsys.readouterr().out
    assert "format:           eg3d" in out and "scenes:           2" in out and "radius:    1.300" in out
    data_cli.run(parse(["data", "info", str(tmp_path / "ns")]))
    out = capsys.readouterr().out
    assert "format:           nerfstudio" in out and "resolution:       12x12" in out
    assert "views per scene:  min 3, mean 3.0, max 3" in out


def test_info_errors_name_the_file(srn_root, tmp_path):
    with pytest.raises(DataError, match="cannot tell the dataset format"):
        data_cli.run(parse(["data", "info", str(tmp_path)]))
    with pytest.raises(DataError, match="needs at least 9"):
        data_cli.run(parse(["data", "info", str(srn_root), "--test-views", "8"]))


def test_build_subcommand_exists():
    parser = argparse.ArgumentParser(prog="latentscenes")
    data_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["data", "build", "--help"])
    assert exit_info.value.code == 0
