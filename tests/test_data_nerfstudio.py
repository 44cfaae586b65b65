import json
import math

import numpy as np
import pytest
import torch
from data_fixtures import orbit_cameras, pinhole, render_sphere, scene_params, silhouette_center, write_transforms_json

from latentscenes.cameras import project
from latentscenes.data import load_scenes, write_png
from latentscenes.errors import DataError


def dot_frame(folder, opengl_pose, name="images/0.png"):
    """White 8x8 image with a green pixel at (row 3, col 5) and the OpenGL pose given."""
    image = np.full((8, 8, 3), 255, np.uint8)
    image[3, 5] = (0, 255, 0)
    write_png(folder / name, image)
    return {"file_path": name, "transform_matrix": np.asarray(opengl_pose).tolist()}


def test_opengl_pose_is_converted_and_point_lands_on_its_pixel(tmp_path):
    # OpenCV camera at (0, 0, -2) looking +z has identity rotation; in OpenGL its y and z
    # axes flip: rotation diag(1, -1, -1). K = [[8, 0, 4], [0, 8, 4]]: the world point
    # (0.375, -0.125, 0) is at camera (0.375, -0.125, 2) -> (8*0.1875+4, 8*-0.0625+4) = (5.5, 3.5).
    gl = np.diag([1.0, -1.0, -1.0, 1.0])
    gl[2, 3] = -2.0
    frame = dot_frame(tmp_path, gl)
    data = {"fl_x": 8, "fl_y": 8, "cx": 4, "cy": 4, "w": 8, "h": 8, "frames": [frame]}
    (tmp_path / "transforms.json").write_text(json.dumps(data))
    scene = load_scenes(tmp_path, num_test_views=0)[0]
    expected = torch.eye(4)
    expected[2, 3] = -2.0
    assert torch.equal(scene.cam2world[0], expected)
    pixels, depth = project(torch.tensor([[0.375, -0.125, 0.0]]), scene.intrinsics[0], scene.cam2world[0])
    assert pixels[0].tolist() == pytest.approx([5.5, 3.5]) and depth.item() == pytest.approx(2.0)
    assert scene.images[0, 3, 5].tolist() == [0, 255, 0]


@pytest.mark.parametrize("blender", [False, True])
def test_sphere_scene_round_trip(tmp_path, blender):
    cams, K = orbit_cameras(3, seed=2), pinhole(16)
    images = render_sphere(cams, K, 16, 16, **scene_params(0))
    write_transforms_json(tmp_path, images, cams, K, blender=blender, extension=not blender)
    scene = load_scenes(tmp_path, num_test_views=1)[0]
    assert scene.scene_id == tmp_path.name and scene.view_names == ["0000", "0001", "0002"]
    assert torch.equal(scene.images, torch.from_numpy(images))
    assert torch.allclose(scene.cam2world, torch.from_numpy(cams).float(), atol=1e-6)
    assert torch.allclose(scene.intrinsics, torch.from_numpy(K).float().expand(3, 3, 3), atol=1e-4)
    center = torch.tensor([scene_params(0)["center"]], dtype=torch.float32)
    for v in range(3):
        pixels, _ = project(center, scene.intrinsics[v], scene.cam2world[v])
        assert np.abs(pixels[0].numpy() - silhouette_center(images[v])).max() < 1.0


def test_blender_camera_angle_and_missing_extension(tmp_path):
    frame = dot_frame(tmp_path, np.eye(4), name="train/r_0.png")
    frame["file_path"] = "./train/r_0"
    data = {"camera_angle_x": 2 * math.atan(0.5), "frames": [frame]}  # fx = 0.5 * 8 / 0.5 = 8
    (tmp_path / "transforms.json").write_text(json.dumps(data))
    scene = load_scenes(tmp_path, num_test_views=0)[0]
    assert scene.view_names == ["r_0"]
    assert torch.allclose(scene.intrinsics[0], torch.tensor([[8.0, 0, 4], [0, 8, 4], [0, 0, 1]]))


def test_per_frame_overrides_and_stored_resolution_rescaling(tmp_path):
    frames = [dot_frame(tmp_path, np.eye(4), f"images/{i}.png") for i in range(2)]
    frames[1].update({"fl_x": 20.0, "cx": 3.0})
    # The intrinsics are for 16x16 images; the files are 8x8 (a downscaled copy).
    data = {"fl_x": 16.0, "fl_y": 12.0, "cx": 8.0, "cy": 8.0, "w": 16, "h": 16, "frames": frames}
    (tmp_path / "transforms.json").write_text(json.dumps(data))
    scene = load_scenes(tmp_path, num_test_views=0)[0]
    assert torch.equal(scene.intrinsics[0], torch.tensor([[8.0, 0, 4], [0, 6, 4], [0, 0, 1]]))
    assert torch.equal(scene.intrinsics[1], torch.tensor([[10.0, 0, 1.5], [0, 6, 4], [0, 0, 1]]))


def test_collection_of_subfolders(tmp_path):
    for name in ("b", "a"):
        cams, K = orbit_cameras(2), pinhole(8)
        write_transforms_json(tmp_path / name, render_sphere(cams, K, 8, 8), cams, K)
    collection = load_scenes(tmp_path, num_test_views=1)
    assert collection.format == "nerfstudio" and collection.scene_ids == ["a", "b"]


@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"fl_x": None}, "missing intrinsics"),
        ({"fl_x": -3}, "'fl_x' must be a positive number"),
        ({"k1": 0.1}, "distortion"),
        ({"camera_model": "OPENCV_FISHEYE"}, "not supported"),
        ({"w": 8, "h": None}, "'h' must be a positive number"),
    ],
)
def test_bad_intrinsics(tmp_path, change, fragment):
    data = {"fl_x": 8, "cx": 4, "cy": 4, "frames": [dot_frame(tmp_path, np.eye(4))]}
    data.update(change)
    data = {key: value for key, value in data.items() if value is not None}  # None: leave the key out
    (tmp_path / "transforms.json").write_text(json.dumps(data))
    with pytest.raises(DataError) as info:
        load_scenes(tmp_path, num_test_views=0)
    assert str(tmp_path / "transforms.json") in str(info.value) and fragment in str(info.value)


@pytest.mark.parametrize(
    "frame, fragment",
    [
        ({"file_path": "images/0.png"}, "missing pose"),
        ({"file_path": "images/0.png", "transform_matrix": [[1, 0, 0, 0]]}, "16 numbers"),
        ({"file_path": "images/0.png", "transform_matrix": np.diag([2.0, 1, 1, 1]).tolist()}, "orthonormal"),
        ({"file_path": "images/missing.png", "transform_matrix": np.eye(4).tolist()}, "does not exist"),
        ({"transform_matrix": np.eye(4).tolist()}, "file_path"),
    ],
)
def test_bad_frames(tmp_path, frame, fragment):
    dot_frame(tmp_path, np.eye(4))
    (tmp_path / "transforms.json").write_text(json.dumps({"fl_x": 8, "frames": [frame]}))
    with pytest.raises(DataError) as info:
        load_scenes(tmp_path, num_test_views=0)
    assert f"{tmp_path / 'transforms.json'} frames[0]" in str(info.value) and fragment in str(info.value)
