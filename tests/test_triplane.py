"""Tri-Plane sampling: which axes each plane sees, texel-centre alignment, range, fast == reference."""

import itertools

import pytest
import torch

from latentscenes.rendering.triplane import (
    PLANE_AXES,
    SAMPLERS,
    sample_triplane,
    sample_triplane_rays,
    sample_triplane_reference,
    total_variation,
)


def _texel_centre(index: int, resolution: int, box: float) -> float:
    return -box / 2 + (index + 0.5) * box / resolution


def test_three_distinct_axis_pairs():
    assert PLANE_AXES == ((0, 1), (0, 2), (1, 2))
    assert len({frozenset(pair) for pair in PLANE_AXES}) == 3


FAST = ["gather", "grid_sample"]


@pytest.mark.parametrize("plane,sampler", list(itertools.product([0, 1, 2], FAST)))
def test_each_plane_sees_its_axes(plane, sampler):
    r, box = 8, 2.0
    planes = torch.zeros(1, 3, 1, r, r)
    row, col = 5, 2
    planes[0, plane, 0, row, col] = 1.0
    a, b = PLANE_AXES[plane]
    (third,) = {0, 1, 2} - {a, b}
    points = torch.zeros(1, 4, 3)
    points[..., a] = _texel_centre(col, r, box)  # column follows the first axis of the pair
    points[..., b] = _texel_centre(row, r, box)  # row follows the second
    points[0, :, third] = torch.tensor([-0.9, -0.3, 0.2, 0.8])
    features = sample_triplane(planes, points, box, sampler=sampler)  # (1, 4, 1)
    # The hot texel is hit exactly at its centre wherever the third coordinate is.
    assert torch.allclose(features, torch.ones(1, 4, 1))
    # Moving along either seen axis by one texel leaves the texel.
    moved = points.clone()
    moved[..., a] += box / r
    assert torch.allclose(sample_triplane(planes, moved, box, sampler=sampler), torch.zeros(1, 4, 1))
    moved = points.clone()
    moved[..., b] += box / r
    assert torch.allclose(sample_triplane(planes, moved, box, sampler=sampler), torch.zeros(1, 4, 1))


@pytest.mark.parametrize("sampler", FAST)
def test_align_corners_false_and_coordinate_range(sampler):
    # Plane 0 holds value (column + 1) everywhere in its rows: f(x) is piecewise linear in x.
    r, box = 4, 4.0  # covers [-2, 2]^3
    planes = torch.zeros(1, 3, 1, r, r)
    planes[0, 0, 0] = (torch.arange(r, dtype=torch.float32) + 1).expand(r, r)
    xs = torch.tensor([_texel_centre(j, r, box) for j in range(r)] + [-2.0, 2.0, -2.5, 2.5, 0.0])
    points = torch.stack([xs, torch.zeros_like(xs), torch.zeros_like(xs)], -1)[None]
    f = sample_triplane(planes, points, box, sampler=sampler)[0, :, 0]
    # Texel centres (-1.5, -0.5, 0.5, 1.5) give the texel values exactly (align_corners=False).
    assert torch.allclose(f[:4], torch.tensor([1.0, 2.0, 3.0, 4.0]))
    # The cube faces x = -2 and x = 2 lie half a texel outside the outer centres: zero
    # padding gives half the outer texel, 0.5 * 1 and 0.5 * 4; beyond the cube, zero.
    assert torch.allclose(f[4:7], torch.tensor([0.5, 2.0, 0.0]))
    assert f[7] == 0.0
    # x = 0 is halfway between texels 1 and 2: (2 + 3) / 2.
    assert torch.isclose(f[8], torch.tensor(2.5))


@pytest.mark.parametrize(
    "aggregate,sampler,batch", list(itertools.product(["sum", "product"], FAST, [1, 3]))
)
def test_fast_matches_reference_forward_and_backward(aggregate, sampler, batch):
    g = torch.Generator().manual_seed(0)
    planes = torch.randn(batch, 3, 5, 6, 6, generator=g, dtype=torch.float64, requires_grad=True)
    # Points inside, on the edge of and well outside the cube [-1.5, 1.5]^3 (box 3).
    points = (torch.rand(batch, 40, 3, generator=g, dtype=torch.float64) * 2.6 - 1.3) * 1.5
    fast = sample_triplane(planes, points, 3.0, aggregate, sampler)
    slow = sample_triplane_reference(planes, points, 3.0, aggregate)
    assert fast.shape == slow.shape == (batch, 40, 5)
    assert torch.allclose(fast, slow)
    upstream = torch.randn(slow.shape, generator=g, dtype=torch.float64)
    (grad_fast,) = torch.autograd.grad(fast, planes, upstream)
    (grad_slow,) = torch.autograd.grad(slow, planes, upstream)
    assert torch.allclose(grad_fast, grad_slow)


@pytest.mark.parametrize("sampler", FAST)
def test_gradcheck_fast_samplers(sampler):
    g = torch.Generator().manual_seed(2)
    planes = torch.randn(2, 3, 3, 4, 4, generator=g, dtype=torch.float64, requires_grad=True)
    points = torch.rand(2, 7, 3, generator=g, dtype=torch.float64) * 2.4 - 1.2
    assert torch.autograd.gradcheck(lambda p: sample_triplane(p, points, sampler=sampler), (planes,))


def test_samplers_agree_at_reference_size():
    g = torch.Generator().manual_seed(3)
    planes = torch.randn(2, 3, 32, 64, 64, generator=g, requires_grad=True)
    points = torch.rand(2, 500, 3, generator=g) * 2.2 - 1.1
    a = sample_triplane(planes, points, sampler="gather")
    b = sample_triplane(planes, points, sampler="grid_sample")
    assert torch.allclose(a, b, atol=1e-5)
    upstream = torch.randn(a.shape, generator=g)
    (ga,) = torch.autograd.grad(a, planes, upstream)
    (gb,) = torch.autograd.grad(b, planes, upstream)
    assert torch.allclose(ga, gb, atol=1e-4)
    assert SAMPLERS == ("auto", "gather", "grid_sample")


def test_ray_sampling_equals_point_sampling():
    g = torch.Generator().manual_seed(1)
    planes = torch.randn(2, 3, 4, 8, 8, generator=g)
    origins = torch.randn(2, 5, 3, generator=g)
    directions = torch.nn.functional.normalize(torch.randn(2, 5, 3, generator=g), dim=-1)
    t = torch.rand(2, 5, 7, generator=g) * 2
    points = origins[:, :, None] + t[..., None] * directions[:, :, None]
    for sampler in FAST:
        by_rays = sample_triplane_rays(planes, origins, directions, t, sampler=sampler)  # (B, Nr, S, C)
        by_points = sample_triplane_reference(planes, points.reshape(2, 35, 3))  # (B, N, C)
        assert torch.allclose(by_rays.reshape(2, 35, 4), by_points, atol=1e-5)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="planes"):
        sample_triplane(torch.zeros(1, 2, 4, 8, 8), torch.zeros(1, 3, 3))
    with pytest.raises(ValueError, match="points"):
        sample_triplane(torch.zeros(2, 3, 4, 8, 8), torch.zeros(1, 3, 3))
    with pytest.raises(ValueError, match="sampler"):
        sample_triplane(torch.zeros(1, 3, 4, 8, 8), torch.zeros(1, 3, 3), sampler="magic")
    with pytest.raises(ValueError, match="no gradient to ray"):
        sample_triplane(torch.zeros(1, 3, 4, 8, 8), torch.zeros(1, 3, 3, requires_grad=True))


def test_total_variation_of_a_ramp():
    # Values = column index: horizontal differences are 1 (R*(R-1) of them), vertical 0.
    r = 4
    planes = torch.arange(r, dtype=torch.float32).expand(1, 3, 2, r, r)
    assert torch.isclose(total_variation(planes), torch.tensor(1.0))
