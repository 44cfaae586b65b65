"""Rays from cameras: OpenCV convention, pixel centres at +0.5, subsets, normalised intrinsics."""

import math

import pytest
import torch

from latentscenes.cameras import look_at, make_intrinsics, normalize_intrinsics, project
from latentscenes.rendering.rays import camera_rays, gather_pixels, pixel_centers, random_pixels


def test_pixel_centers_are_row_major_at_half_pixels():
    uv = pixel_centers(2, 3)
    assert uv.shape == (6, 2)
    # index = row * W + column; (u, v) = (column + 0.5, row + 0.5)
    assert uv[0].tolist() == [0.5, 0.5]
    assert uv[1].tolist() == [1.5, 0.5]
    assert uv[3].tolist() == [0.5, 1.5]
    assert uv[5].tolist() == [2.5, 1.5]


def test_identity_camera_opencv_axes():
    # 3x3 image, principal point at the image centre (1.5, 1.5): the centre pixel looks down +z.
    K = make_intrinsics(2.0, 2.0, 1.5, 1.5)
    rays = camera_rays(torch.eye(4), K, 3, 3)
    d = rays.directions.view(3, 3, 3)
    assert torch.allclose(d[1, 1], torch.tensor([0.0, 0.0, 1.0]))
    # Column to the right -> +x; row below -> +y (OpenCV: x right, y down, z forward).
    assert d[1, 2, 0] > 0 and abs(d[1, 2, 1]) < 1e-7
    assert d[2, 1, 1] > 0 and abs(d[2, 1, 0]) < 1e-7
    # (u - cx) / fx = (2.5 - 1.5) / 2 = 0.5 -> direction normalise((0.5, 0, 1)).
    assert torch.allclose(d[1, 2], torch.tensor([0.5, 0.0, 1.0]) / math.sqrt(1.25))
    assert torch.allclose(rays.origins, torch.zeros(9, 3))
    assert torch.allclose(rays.directions.norm(dim=-1), torch.ones(9))


def test_rays_project_back_to_their_pixel_centres():
    cam2world = look_at(torch.tensor([[1.3, 0.2, 0.4], [-0.5, 1.0, 0.6]]))
    K = make_intrinsics(torch.tensor([70.0, 50.0]), torch.tensor([65.0, 55.0]), 30.0, 20.0)
    h, w = 40, 64
    rays = camera_rays(cam2world, K, h, w)
    points = rays.origins + 1.7 * rays.directions  # (2, H*W, 3)
    pixels, depth = project(points, K, cam2world)
    expected = pixel_centers(h, w).expand(2, -1, -1)
    assert torch.allclose(pixels, expected, atol=1e-3)
    assert (depth > 0).all()
    assert torch.allclose(rays.origins, cam2world[:, None, :3, 3].expand(-1, h * w, -1))


def test_pixel_subset_matches_full_rays():
    cam2world = look_at(torch.tensor([[1.3, 0.0, 0.5]])).expand(2, 3, 4, 4)  # (S=2, V=3)
    K = make_intrinsics(40.0, 40.0, 16.0, 12.0).expand(2, 3, 3, 3)
    full = camera_rays(cam2world, K, 24, 32)
    pixels = random_pixels((2, 3), 24, 32, 50, generator=torch.Generator().manual_seed(0))
    sub = camera_rays(cam2world, K, 24, 32, pixels)
    assert sub.directions.shape == (2, 3, 50, 3)
    idx = pixels[..., None].expand(-1, -1, -1, 3)
    assert torch.allclose(sub.directions, torch.gather(full.directions, 2, idx))
    assert torch.allclose(sub.origins, torch.gather(full.origins, 2, idx))


def test_normalized_intrinsics_render_any_resolution():
    cam2world = look_at(torch.tensor([1.0, -1.0, 0.5]))
    for h, w in [(16, 16), (128, 96)]:
        K = make_intrinsics(1.2 * w, 1.1 * h, 0.5 * w, 0.5 * h)
        pixel = camera_rays(cam2world, K, h, w)
        norm = camera_rays(cam2world, normalize_intrinsics(K, w, h), h, w, normalized=True)
        assert torch.allclose(pixel.directions, norm.directions, atol=1e-6)


def test_random_pixels_distinct_and_in_range():
    pixels = random_pixels((4,), 8, 8, 64, generator=torch.Generator().manual_seed(1))
    assert pixels.shape == (4, 64)
    for row in pixels:
        assert sorted(row.tolist()) == list(range(64))
    with pytest.raises(ValueError):
        random_pixels((1,), 2, 2, 5)


def test_gather_pixels():
    images = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).view(2, 3, 4, 5)  # (V, C, H, W)
    pixels = torch.tensor([[0, 7], [19, 5]])
    out = gather_pixels(images, pixels)
    assert out.shape == (2, 2, 3)
    assert out[0, 1].tolist() == images[0, :, 1, 2].tolist()  # 7 = row 1, column 2
    assert out[1, 0].tolist() == images[1, :, 3, 4].tolist()  # 19 = row 3, column 4
