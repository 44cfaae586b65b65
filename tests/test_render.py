"""`latentscenes render`: turntables, frames, depth maps, latent channels and views from SRN
pose files of every run kind, and the refusals (unfinished run, bad poses, --latent on RGB)."""

import sys

import imageio.v2 as imageio
import numpy as np
import pytest
import torch
from PIL import Image

from latentscenes.cameras import camera_elevation, camera_radius, project, turntable_cam2world
from latentscenes.cli.main import main
from latentscenes.config import load_config
from latentscenes.data.srn import read_poses
from latentscenes.engine.runs import create_run, open_run
from latentscenes.errors import DataError
from latentscenes.evaluation.renders import depth_to_uint8, latent_channels_grid, to_uint8
from latentscenes.recipes.restore import load_trained
from latentscenes.recipes.rgb import FitRGBConfig, fit_rgb
from latentscenes.rendering.scene_views import SceneViews
from latentscenes.reports.turntables import depth_range
from latentscenes.reports.videos import save_video


def test_turntable_cameras_circle_the_origin_at_the_given_radius_and_elevation():
    poses = turntable_cam2world(8, radius=1.7, elevation_deg=25.0, start_azimuth_deg=10.0)
    assert poses.shape == (8, 4, 4)
    assert torch.allclose(camera_radius(poses), torch.full((8,), 1.7), atol=1e-5)
    assert torch.allclose(camera_elevation(poses), torch.full((8,), 25.0), atol=1e-4)
    azimuths = torch.rad2deg(torch.atan2(poses[:, 1, 3], poses[:, 0, 3]))
    expected = (10.0 + 45.0 * torch.arange(8) + 180) % 360 - 180  # one full turn, evenly spaced
    assert torch.allclose(azimuths, expected, atol=1e-3)
    K = torch.tensor([[40.0, 0, 16], [0, 40.0, 16], [0, 0, 1]])
    pixels, depth = project(torch.zeros(8, 1, 3), K.expand(8, 3, 3), poses)
    assert torch.allclose(pixels, torch.full((8, 1, 2), 16.0), atol=1e-4)  # the origin at the image centre
    assert torch.allclose(depth, torch.full((8, 1), 1.7), atol=1e-5)


@pytest.mark.parametrize("kind", ["rgb", "stage1", "latent"])
def test_render_writes_a_turntable_with_frames_and_depth_for_every_run_kind(tiny_runs, tmp_path, kind, capsys):
    out = tmp_path / "renders"
    latent = [] if kind == "rgb" else ["--latent"]
    assert main(["render", str(tiny_runs / kind), "--scenes", "0", "--frames", "4", "--out", str(out), *latent]) == 0
    _, collection = load_trained(open_run(tiny_runs / kind))
    scene = collection.scenes[0].scene_id
    folder = out / scene
    video = imageio.mimread(folder / "turntable.mp4")
    assert len(video) == 4 and video[0].shape == (32, 32, 3)
    frames = [np.asarray(Image.open(folder / "turntable" / f"{i:04d}.png")) for i in range(4)]
    assert all(frame.shape == (32, 32, 3) for frame in frames)
    assert not np.array_equal(frames[0], frames[2])  # the camera moved
    depth = np.load(folder / "turntable" / "depth.npy")
    assert depth.shape == ((4, 32, 32) if kind == "rgb" else (4, 8, 8))  # latent scenes: at the latent resolution
    assert np.asarray(Image.open(folder / "turntable" / "depth-0000.png")).shape == (32, 32, 3)
    if kind != "rgb":
        tiles = np.asarray(Image.open(folder / "turntable" / "latent-0000.png"))
        assert tiles.shape == (64, 64, 3)  # 4 latent channels of 8x8, tiled 2x2, enlarged 4x
        assert len(imageio.mimread(folder / "turntable-latent.mp4")) == 4
    assert scene in capsys.readouterr().out


@pytest.mark.parametrize("kind", ["rgb", "latent"])
def test_views_from_an_srn_pose_file_are_the_runs_own_renders_of_those_cameras(tiny_runs, tmp_path, kind):
    model, collection = load_trained(open_run(tiny_runs / kind))
    scene = collection.scenes[0]
    views = torch.arange(3)
    pose_file = tmp_path / "poses.txt"
    pose_file.write_text("\n".join(" ".join(f"{v:.9g}" for v in pose.flatten().tolist()) for pose in scene.cam2world[views]))
    out = tmp_path / "renders"
    assert main(["render", str(tiny_runs / kind), "--scenes", scene.scene_id, "--frames", "0", "--poses", str(pose_file),
                 "--out", str(out)]) == 0
    expected = to_uint8(model.render_images(0, scene, views))
    for i in range(3):
        written = np.asarray(Image.open(out / scene.scene_id / "poses" / f"{i:04d}.png"))
        assert np.abs(written.astype(int) - expected[i].astype(int)).max() <= 1
    assert not (out / scene.scene_id / "turntable").exists()


def test_render_refuses_an_unfinished_run(objects_32px, tmp_path, capsys):
    config = load_config(FitRGBConfig, overrides=[f"data.root={objects_32px}", "data.count=1", "fit.steps=6",
                                                 "logging.backend=none", "logging.progress=false",
                                                 "logging.checkpoint_every=2", "eval.every=0"])
    run = create_run(tmp_path / "unfinished", config, kind="fit-rgb")
    fit_rgb(config, run, stop_after=2)  # interrupted after 2 of 6 steps
    for command in (["render", str(run.root)], ["export", str(run.root), "--out", str(tmp_path / "x")],
                    ["report", str(run.root), "--out", str(tmp_path / "r.html")]):
        assert main(command) == 2
        error = capsys.readouterr().err
        assert "has not finished training" in error and "fit --space rgb --resume --run" in error
    assert not (tmp_path / "x").exists() and not (tmp_path / "r.html").exists()


def test_render_refuses_bad_requests_with_one_clear_error(tiny_runs, tmp_path, capsys):
    bad_pose = tmp_path / "bad.txt"
    bad_pose.write_text("1 0 0 0  0 1 0 0  0 0 1 0  0 0 0")
    cases = [
        (["--poses", str(bad_pose)], "16 numbers per pose"),
        (["--scenes", "nope"], "'nope' is neither a scene id"),
        (["--latent"], "is an RGB run"),
        (["--frames", "0"], "nothing to render"),
    ]
    for options, message in cases:
        assert main(["render", str(tiny_runs / "rgb"), "--out", str(tmp_path / "out"), *options]) == 2
        assert message in capsys.readouterr().err
    assert main(["render", str(tiny_runs / "latent"), "--size", "30", "--frames", "2", "--out", str(tmp_path / "o")]) == 2
    assert "divisible by their autoencoder's downsampling factor (4)" in capsys.readouterr().err


def test_pose_files_hold_one_or_more_poses_and_folders_are_read_in_name_order(tmp_path):
    poses = turntable_cam2world(3, 1.5, 20.0).double().numpy()
    (tmp_path / "pose").mkdir()
    for i, name in enumerate(["b", "a", "c"]):
        (tmp_path / "pose" / f"{name}.txt").write_text(" ".join(map(repr, poses[i].flatten().tolist())))
    (tmp_path / "all.txt").write_text("\n".join(" ".join(map(repr, p.flatten().tolist())) for p in poses))
    assert np.allclose(read_poses(tmp_path / "all.txt"), poses)
    assert np.allclose(read_poses(tmp_path / "pose"), poses[[1, 0, 2]])
    with pytest.raises(DataError, match="missing.txt"):
        read_poses(tmp_path / "missing.txt")


def test_latent_channels_are_tiled_on_a_square_grid():
    latents = torch.stack([torch.full((2, 3), v) for v in (-1.0, -0.5, 0.0, 0.5, 1.0)])  # (c=5, h=2, w=3)
    grid = latent_channels_grid(latents, scale=2)
    assert grid.shape == (2 * 2 * 2, 3 * 3 * 2, 3)  # 5 channels -> 3 columns x 2 rows, each 4 x 6 pixels
    tile = lambda r, c: grid[r * 4 : (r + 1) * 4, c * 6 : (c + 1) * 6, 0]  # noqa: E731
    assert (tile(0, 0) == 0).all() and (tile(0, 2) == 128).all() and (tile(1, 1) == 255).all()
    assert (tile(1, 2) == 128).all()  # the empty sixth tile


def test_videos_fall_back_to_gif_without_ffmpeg(tmp_path, monkeypatch):
    frames = np.random.default_rng(0).integers(0, 255, (5, 16, 16, 3), dtype=np.uint8)
    assert save_video(tmp_path / "asked", frames, format="gif").suffix == ".gif"
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # the package is not installed
    path = save_video(tmp_path / "clip", frames)
    assert path == tmp_path / "clip.gif"
    with Image.open(path) as gif:
        assert gif.n_frames == 5 and gif.size == (16, 16)


def test_depth_maps_span_the_sequences_surfaces_and_black_out_empty_space():
    depth = torch.tensor([[[1.0, 1.5], [2.0, 9.0]]])  # one 2x2 view; the last ray hits nothing
    opacity = torch.tensor([[[1.0, 0.9], [0.6, 0.1]]])
    views = SceneViews(images=torch.zeros(1, 3, 2, 2), depth=depth, opacity=opacity)
    near, far = depth_range(views)
    assert (near, far) == pytest.approx((1.0, 2.1))  # hits span 1..2, widened by 10%
    grey = depth_to_uint8(depth, opacity, near, far)[0, :, :, 0]
    # (2.1 - d) / 1.1 * 255: 1.0 -> 255, 1.5 -> 139.09, 2.0 -> 23.18; no hit -> 0
    assert grey.tolist() == [[255, 139], [23, 0]]
