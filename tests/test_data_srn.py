import numpy as np
import pytest
import torch
from data_fixtures import orbit_cameras, pinhole, render_sphere, scene_params, silhouette_center, write_srn_dataset

from latentscenes.cameras import project
from latentscenes.data import load_scenes, write_srn_scene
from latentscenes.errors import DataError


def dot_scene(size=8, dot=(3, 5)):
    """A camera at (0, 0, -2) looking along +z and a white image with one red pixel at
    `dot` = (row, col), where the world point below projects: K = [[8, 0, 4], [0, 8, 4]],
    pixel centre (col + 0.5, row + 0.5) = (5.5, 3.5) <- x = (5.5 - 4) / 8 * 2 = 0.375,
    y = (3.5 - 4) / 8 * 2 = -0.125 at z = 0."""
    image = np.full((1, size, size, 3), 255, np.uint8)
    image[0, dot[0], dot[1]] = (255, 0, 0)
    c2w = np.eye(4)[None].copy()
    c2w[0, 2, 3] = -2.0
    K = np.array([[8.0, 0, 4], [0, 8.0, 4], [0, 0, 1]])
    point = torch.tensor([[0.375, -0.125, 0.0]])
    return image, c2w, K, point


def test_write_read_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 6, 10, 3), dtype=np.uint8)
    cams = orbit_cameras(3, seed=1)
    K = np.array([[7.123456789, 0, 5.1], [0, 7.123456789, 2.9], [0, 0, 1]])
    names = ["a", "b", "c"]
    write_srn_scene(tmp_path, "car", images, cams, K, view_names=names)
    (scene,) = load_scenes(tmp_path, num_test_views=0, format="srn").scenes
    assert scene.scene_id == "car" and scene.view_names == names
    assert torch.equal(scene.images, torch.from_numpy(images))
    assert torch.equal(scene.cam2world, torch.from_numpy(cams).float())
    assert torch.equal(scene.intrinsics, torch.from_numpy(np.repeat(K[None], 3, 0)).float())
    # The text holds the full float64 values, not rounded ones.
    numbers = [float(v) for v in (tmp_path / "car" / "pose" / "b.txt").read_text().split()]
    assert np.array_equal(np.array(numbers).reshape(4, 4), cams[1])


def test_writer_rejects_two_focal_lengths(tmp_path):
    K = np.array([[8.0, 0, 4], [0, 9.0, 4], [0, 0, 1]])
    with pytest.raises(ValueError, match="one focal length"):
        write_srn_scene(tmp_path, "s", np.zeros((1, 4, 4, 3), np.uint8), np.eye(4)[None], K)


def test_srn_convention_point_lands_on_its_pixel(tmp_path):
    image, c2w, K, point = dot_scene()
    write_srn_scene(tmp_path, "dot", image, c2w, K)
    scene = load_scenes(tmp_path, num_test_views=0)[0]
    pixels, depth = project(point, scene.intrinsics[0], scene.cam2world[0])
    col, row = pixels[0].floor().long().tolist()
    assert (row, col) == (3, 5) and depth.item() == pytest.approx(2.0)
    assert scene.images[0, row, col].tolist() == [255, 0, 0]
    # Loaded at 2x: the point lands inside the 2x2 block the red pixel became.
    big = load_scenes(tmp_path, num_test_views=0, size=16)[0]
    pixels, _ = project(point, big.intrinsics[0], big.cam2world[0])
    assert pixels[0].tolist() == pytest.approx([11.0, 7.0])
    col, row = pixels[0].floor().long().tolist()
    assert big.images[0, row - 1 : row + 1, col - 1 : col + 1, 1].max() < 128  # red, not white


def test_sphere_fixture_centre_projects_to_silhouette_centre(tmp_path):
    write_srn_dataset(tmp_path, num_scenes=1, num_views=4, size=24)
    scene = load_scenes(tmp_path, num_test_views=0)[0]
    center = torch.tensor([scene_params(0)["center"]], dtype=torch.float32)
    for v in range(scene.num_views):
        pixels, _ = project(center, scene.intrinsics[v], scene.cam2world[v])
        assert np.abs(pixels[0].numpy() - silhouette_center(scene.images[v].numpy())).max() < 1.0
        # Coloured by world normal: the top of the image sees +z normals (more blue).
        image = scene.images[v].numpy().astype(float)
        mask = (image != 255).any(-1)
        rows = np.nonzero(mask)[0]
        top, bottom = rows.min(), rows.max()
        assert image[top][mask[top], 2].mean() > image[bottom][mask[bottom], 2].mean() + 50


def test_intrinsics_line4_rescales_to_image_resolution(tmp_path):
    image, c2w, K, point = dot_scene()
    write_srn_scene(tmp_path, "dot", image, c2w, K)
    # Claim the intrinsics were written for 32x32 renders: f, cx, cy x 4.
    (tmp_path / "dot" / "intrinsics.txt").write_text("32. 16. 16. 0.\n0. 0. 0.\n1.\n32 32\n")
    scene = load_scenes(tmp_path, num_test_views=0)[0]
    assert torch.equal(scene.intrinsics[0], torch.from_numpy(K).float())


def test_world2cam_flag_inverts_poses(tmp_path):
    image, c2w, K, _ = dot_scene()
    cams = orbit_cameras(1, seed=3)
    write_srn_scene(tmp_path, "s", image, np.linalg.inv(cams), K)
    (tmp_path / "s" / "intrinsics.txt").write_text("8. 4. 4. 0.\n0. 0. 0.\n1.\n8 8\n1\n")
    scene = load_scenes(tmp_path, num_test_views=0)[0]
    assert torch.allclose(scene.cam2world[0], torch.from_numpy(cams).float()[0], atol=1e-6)


def test_root_that_is_one_scene(tmp_path):
    write_srn_dataset(tmp_path, num_scenes=1, num_views=2, size=8)
    scenes = load_scenes(tmp_path / "scene_000", num_test_views=1)
    assert len(scenes) == 1 and scenes[0].scene_id == "scene_000"


@pytest.fixture
def srn(tmp_path):
    write_srn_dataset(tmp_path, num_scenes=1, num_views=3, size=8)
    return tmp_path / "scene_000"


def assert_data_error(root, path, fragment):
    with pytest.raises(DataError) as info:
        load_scenes(root, num_test_views=0)
    message = str(info.value)
    assert str(path) in message and fragment in message and "\n" not in message


def test_missing_pose(srn):
    (srn / "pose" / "000001.txt").unlink()
    assert_data_error(srn.parent, srn / "pose" / "000001.txt", "missing pose")


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("1 0 0 0 0 1 0 0 0 0 1 0 0 0 0", "16 numbers"),
        ("1 0 0 0 0 1 0 0 0 0 1 x 0 0 0 1", "16 numbers"),
        ("1 0 0 0 0 1 0 0 0 0 1 nan 0 0 0 1", "non-finite"),
        ("1 0 0 0 0 1 0 0 0 0 1 inf 0 0 0 1", "non-finite"),
        ("1.01 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1", "orthonormal"),
        ("1 0 0 0 0 1 0 0 0 0 -1 0 0 0 0 1", "orthonormal"),
        ("1 0 0 0 0 1 0 0 0 0 1 0 0 0 1 1", "last row"),
    ],
)
def test_bad_pose(srn, text, fragment):
    (srn / "pose" / "000002.txt").write_text(text)
    assert_data_error(srn.parent, srn / "pose" / "000002.txt", fragment)


def test_rotation_within_tolerance_is_accepted(srn):
    (srn / "pose" / "000002.txt").write_text("1.0004 0 0 0 0 1 0 0 0 0 1 0.3 0 0 0 1")
    assert load_scenes(srn.parent, num_test_views=0)[0].num_views == 3


def test_missing_intrinsics(srn):
    (srn / "intrinsics.txt").unlink()
    assert_data_error(srn.parent, srn / "intrinsics.txt", "missing intrinsics")


@pytest.mark.parametrize(
    "text, fragment",
    [("", "line 1"), ("abc 4 4 0.\n", "line 1"), ("-8 4 4 0.\n0 0 0\n1.\n8 8\n", "'f'"), ("8 4 4 0.\n0 0 0\n1.\n8\n", "line 4")],
)
def test_bad_intrinsics(srn, text, fragment):
    (srn / "intrinsics.txt").write_text(text)
    assert_data_error(srn.parent, srn / "intrinsics.txt", fragment)


def test_corrupt_image(srn):
    (srn / "rgb" / "000001.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    assert_data_error(srn.parent, srn / "rgb" / "000001.png", "corrupt image")


def test_truncated_image(srn):
    path = srn / "rgb" / "000000.png"
    path.write_bytes(path.read_bytes()[:60])
    assert_data_error(srn.parent, path, "corrupt image")


def test_inconsistent_image_sizes(srn):
    write_srn_scene(srn.parent, "scene_000", np.zeros((1, 9, 8, 3), np.uint8), orbit_cameras(1), pinhole(8), ["000002"])
    assert_data_error(srn.parent, srn / "rgb" / "000002.png", "inconsistent image sizes")


def test_scene_without_images_is_too_small(srn):
    for path in (srn / "rgb").iterdir():
        path.unlink()
    assert_data_error(srn.parent, srn, "has 0 views")


def test_sphere_renderer_alpha_matches_white_composite():
    cams, K = orbit_cameras(2), pinhole(8)
    rgba = render_sphere(cams, K, 8, 8, alpha=True)
    rgb = render_sphere(cams, K, 8, 8)
    assert rgba.shape == (2, 8, 8, 4) and np.array_equal(rgba[..., 3] == 0, (rgb == 255).all(-1))


def test_intrinsics_without_resolution_line_refer_to_the_images(tmp_path):
    image, c2w, K, _ = dot_scene()
    write_srn_scene(tmp_path, "dot", image, c2w, K)
    (tmp_path / "dot" / "intrinsics.txt").write_text("8. 4. 4. 0.\n")
    scene = load_scenes(tmp_path, num_test_views=0, size=16)[0]
    assert torch.equal(scene.intrinsics[0], torch.tensor([[16.0, 0, 8], [0, 16, 8], [0, 0, 1]]))
