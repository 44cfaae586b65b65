import math

import pytest
import torch

from latentscenes.cameras import (
    camera_elevation,
    camera_radius,
    denormalize_intrinsics,
    intrinsics_from_fov,
    look_at,
    make_intrinsics,
    normalize_intrinsics,
    opencv_to_opengl,
    opengl_to_opencv,
    orbit_cam2world,
    project,
    rotation_error,
    scale_intrinsics,
    world_to_camera,
)


def translation(x, y, z):
    c2w = torch.eye(4)
    c2w[:3, 3] = torch.tensor([x, y, z])
    return c2w


def test_project_camera_on_axis_hits_principal_point():
    # Camera at (0, 0, -2), identity rotation: looks along world +z. The origin is 2 in front.
    K = make_intrinsics(100.0, 100.0, 32.0, 24.0)
    pixels, depth = project(torch.zeros(1, 3), K, translation(0, 0, -2))
    assert torch.allclose(pixels, torch.tensor([[32.0, 24.0]]))
    assert torch.allclose(depth, torch.tensor([2.0]))


def test_project_off_axis_point_by_hand():
    # Point (0.2, -0.1, 0) seen from (0, 0, -2): x_cam = (0.2, -0.1, 2).
    # u = 100 * 0.2 / 2 + 32 = 42; v = 100 * -0.1 / 2 + 24 = 19 (y down: -y is up in the image).
    K = make_intrinsics(100.0, 100.0, 32.0, 24.0)
    pixels, depth = project(torch.tensor([[0.2, -0.1, 0.0]]), K, translation(0, 0, -2))
    assert torch.allclose(pixels, torch.tensor([[42.0, 19.0]]))
    assert torch.allclose(depth, torch.tensor([2.0]))


def test_project_point_behind_camera_has_negative_depth():
    _, depth = project(torch.tensor([[0.0, 0.0, -3.0]]), make_intrinsics(1, 1, 0, 0), translation(0, 0, -2))
    assert depth.item() == pytest.approx(-1.0)


@pytest.mark.parametrize("batch", [(), (2,), (2, 3)])
def test_project_batch_shapes_match_loop(batch):
    torch.manual_seed(0)
    c2w = orbit_cam2world(torch.rand(batch) + 1.0, torch.rand(batch) * 360, torch.rand(batch) * 60)
    K = make_intrinsics(torch.full(batch, 50.0), 60.0, 32.0, 32.0)
    points = torch.rand(batch + (5, 3)) - 0.5
    pixels, depth = project(points, K, c2w)
    assert pixels.shape == batch + (5, 2) and depth.shape == batch + (5,)
    # Slow reference: homogeneous world2cam matrix product, one point at a time.
    w2c = torch.linalg.inv(c2w.double()).reshape(-1, 4, 4)
    flat_K, flat_points = K.double().reshape(-1, 3, 3), points.double().reshape(-1, 5, 3)
    expected = []
    for b in range(w2c.shape[0]):
        for p in flat_points[b]:
            cam = w2c[b] @ torch.cat([p, torch.ones(1, dtype=p.dtype)])
            uvw = flat_K[b] @ cam[:3]
            expected.append(uvw[:2] / uvw[2])
    assert torch.allclose(pixels.reshape(-1, 2).double(), torch.stack(expected), atol=1e-4)


def test_opengl_to_opencv_flips_camera_y_and_z_only():
    c2w = orbit_cam2world(1.3, 40.0, 25.0)
    gl = opencv_to_opengl(c2w)
    assert torch.equal(gl[:3, 0], c2w[:3, 0])
    assert torch.equal(gl[:3, 1], -c2w[:3, 1])
    assert torch.equal(gl[:3, 2], -c2w[:3, 2])
    assert torch.equal(gl[:, 3], c2w[:, 3])
    assert torch.equal(opengl_to_opencv(gl), c2w)
    assert torch.allclose(gl, c2w @ torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0])))


def test_opengl_camera_looking_down_minus_z_converts_to_opencv_forward():
    # OpenGL camera at (0, 0, 2) with identity rotation looks along world -z (towards the origin).
    gl = translation(0, 0, 2)
    cv = opengl_to_opencv(gl)
    assert torch.allclose(cv[:3, 2], torch.tensor([0.0, 0.0, -1.0]))  # forward
    pixels, depth = project(torch.zeros(1, 3), make_intrinsics(10, 10, 5, 5), cv)
    assert torch.allclose(pixels, torch.tensor([[5.0, 5.0]])) and depth.item() == pytest.approx(2.0)
    # OpenGL y is up, so a point above the axis (world +y) lands above the centre (smaller v).
    pixels, _ = project(torch.tensor([[0.0, 1.0, 0.0]]), make_intrinsics(10, 10, 5, 5), cv)
    assert pixels[0, 1] < 5.0


def test_world_to_camera_inverts():
    c2w = orbit_cam2world(torch.tensor([1.3, 2.0]), torch.tensor([10.0, 200.0]), torch.tensor([-20.0, 70.0]))
    assert torch.allclose(world_to_camera(c2w) @ c2w, torch.eye(4).expand(2, 4, 4), atol=1e-6)


def test_look_at_axes():
    c2w = look_at(torch.tensor([0.0, -2.0, 0.0]))  # on -y looking at the origin, z up
    assert torch.allclose(c2w[:3, 0], torch.tensor([1.0, 0.0, 0.0]))  # right = +x
    assert torch.allclose(c2w[:3, 1], torch.tensor([0.0, 0.0, -1.0]))  # down = -z
    assert torch.allclose(c2w[:3, 2], torch.tensor([0.0, 1.0, 0.0]))  # forward = +y
    assert rotation_error(c2w).item() < 1e-6
    # a camera straight above the origin looks along z: with z up its roll is undefined
    with pytest.raises(ValueError, match="looks along the up vector"):
        look_at(torch.tensor([[1.0, 0.0, 0.5], [0.0, 0.0, 1.5]]))
    above = look_at(torch.tensor([0.0, 0.0, 1.5], dtype=torch.float64), up=torch.tensor([0.0, 1.0, 0.0]))
    assert above.dtype == torch.float64 and torch.equal(above[:3, 2], torch.tensor([0.0, 0.0, -1.0], dtype=torch.float64))


def test_scale_and_normalize_intrinsics():
    K = make_intrinsics(131.25, 131.25, 64.0, 64.0)
    half = scale_intrinsics(K, 0.5, 0.25)
    assert torch.allclose(half, make_intrinsics(65.625, 32.8125, 32.0, 16.0))
    normalized = normalize_intrinsics(K, 128, 128)
    assert torch.allclose(normalized, make_intrinsics(131.25 / 128, 131.25 / 128, 0.5, 0.5))
    assert torch.allclose(denormalize_intrinsics(normalized, 128, 128), K)
    # Resizing preserves the pixel a point lands on, in relative terms (centres at +0.5).
    c2w = orbit_cam2world(1.3, 30.0, 20.0)
    point = torch.tensor([[0.1, -0.2, 0.05]])
    full, _ = project(point, K, c2w)
    small, _ = project(point, scale_intrinsics(K, 0.25, 0.25), c2w)
    assert torch.allclose(small, full * 0.25, atol=1e-5)


def test_intrinsics_from_fov():
    K = intrinsics_from_fov(math.radians(90.0), 64, 48)
    assert torch.allclose(K, make_intrinsics(32.0, 32.0, 32.0, 24.0), atol=1e-5)
    # dtype float64 keeps the focal length's digits, which the SRN writer stores
    exact = intrinsics_from_fov(math.radians(52.0), 128, 128, dtype=torch.float64)
    assert exact.dtype == torch.float64 and exact[0, 0].item() == 64.0 / math.tan(math.radians(52.0) / 2)


def test_radius_and_elevation():
    c2w = orbit_cam2world(torch.tensor([1.3, 2.0, 1.0]), torch.tensor([0.0, 90.0, 45.0]), torch.tensor([30.0, -10.0, 0.0]))
    assert torch.allclose(camera_radius(c2w), torch.tensor([1.3, 2.0, 1.0]), atol=1e-6)
    assert torch.allclose(camera_elevation(c2w), torch.tensor([30.0, -10.0, 0.0]), atol=1e-4)
    assert torch.allclose(c2w[0, 2, 3], torch.tensor(1.3 * 0.5), atol=1e-6)  # height = r sin(el)


def test_rotation_error_detects_reflection_and_scale():
    c2w = torch.eye(4)
    assert rotation_error(c2w).item() == 0.0
    assert rotation_error(torch.diag(torch.tensor([1.0, 1.0, -1.0, 1.0]))).item() == pytest.approx(2.0)
    assert rotation_error(torch.diag(torch.tensor([1.1, 1.0, 1.0, 1.0]))).item() > 0.1
