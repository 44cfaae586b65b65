"""Volume rendering against closed forms, and the sampling math against slow references."""

import math

import pytest
import torch
from reference import importance_samples_reference, render_weights_reference

from latentscenes.rendering.config import RenderConfig
from latentscenes.rendering.renderer import points_along_rays, render_rays
from latentscenes.rendering.samplers import (
    importance_samples,
    sample_intervals,
    stratified_samples,
)
from latentscenes.rendering.volume import expected_depth, render_weights


class FunctionField:
    """A field from density(points) and a constant colour; points (B, R, S, 3)."""

    def __init__(self, density_fn, colour=(1.0, 0.0, 0.0)):
        self.density_fn = density_fn
        self.colour = torch.tensor(colour)

    def __call__(self, origins, directions, t):
        points = points_along_rays(origins, directions, t)
        density = self.density_fn(points)
        b, r, s = t.shape
        colour = self.colour.expand(b, r, s, -1)
        return density, colour


def _x_rays(rays: int = 3):
    """Rays from the origin along +x, so t equals the x coordinate. (1, R, 3) each."""
    origins = torch.zeros(1, rays, 3)
    directions = torch.tensor([1.0, 0.0, 0.0]).expand(1, rays, 3).contiguous()
    return origins, directions


def test_render_weights_match_reference_loop():
    g = torch.Generator().manual_seed(0)
    density = torch.rand(4, 6, 10, generator=g) * 3
    t = torch.sort(torch.rand(4, 6, 10, generator=g) * 1.6 + 0.5).values
    starts, ends = sample_intervals(t, 0.5, 2.1)
    fast = render_weights(density, starts, ends)
    assert torch.allclose(fast, render_weights_reference(density, starts, ends), atol=1e-6)


def test_intervals_tile_near_to_far():
    t = torch.tensor([[0.6, 1.0, 1.1, 2.0]])
    starts, ends = sample_intervals(t, 0.5, 2.1)
    assert torch.allclose(starts, torch.tensor([[0.5, 0.8, 1.05, 1.55]]))
    assert torch.allclose(ends, torch.tensor([[0.8, 1.05, 1.55, 2.1]]))


def test_deterministic_stratified_samples_are_strata_centres():
    t = stratified_samples((2,), 4, 0.5, 2.1, deterministic=True)
    # (far - near) / 4 = 0.4: centres 0.7, 1.1, 1.5, 1.9
    assert torch.allclose(t, torch.tensor([0.7, 1.1, 1.5, 1.9]).expand(2, 4))
    jittered = stratified_samples((100,), 4, 0.5, 2.1, generator=torch.Generator().manual_seed(0))
    lower = torch.tensor([0.5, 0.9, 1.3, 1.7])
    assert ((jittered >= lower) & (jittered < lower + 0.4)).all()


@pytest.mark.parametrize("importance", [0, 16])
def test_constant_density_opacity(importance):
    # sigma = 0.5 over the whole [near, far] = [0.5, 2.1], L = 1.6:
    # opacity = 1 - exp(-0.5 * 1.6) = 1 - exp(-0.8) = 1 - 0.449329 = 0.550671, exactly,
    # whatever the samples (the intervals tile [near, far]).
    field = FunctionField(lambda p: torch.full(p.shape[:-1], 0.5))
    config = RenderConfig(samples=16, importance_samples=importance, deterministic=False)
    out = render_rays(field, *_x_rays(), config, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(out.opacity, torch.full((1, 3), 0.550671), atol=1e-6)


def test_slab_opacity_and_colour_over_background():
    # Slab of sigma = 2 for 1.0 <= x < 1.5 (L = 0.5) on rays along +x from the origin.
    # 16 deterministic strata of [0.5, 2.1] have width 0.1; strata 5..9 are exactly the
    # slab, so opacity = 1 - exp(-2 * 0.5) = 1 - exp(-1) = 0.632121.
    field = FunctionField(lambda p: 2.0 * ((p[..., 0] >= 1.0) & (p[..., 0] < 1.5)).float(), colour=(1.0, 0.0, 0.5))
    config = RenderConfig(samples=16, importance_samples=0, deterministic=True)
    background = torch.tensor([0.0, 1.0, 0.5])
    out = render_rays(field, *_x_rays(), config, background)
    alpha = 1 - math.exp(-1.0)
    assert torch.allclose(out.opacity, torch.full((1, 3), alpha), atol=1e-6)
    # image = alpha * c + (1 - alpha) * bg = (0.632, 0.368, 0.5)
    expected = alpha * torch.tensor([1.0, 0.0, 0.5]) + (1 - alpha) * background
    assert torch.allclose(out.image, expected.expand(1, 3, 3), atol=1e-6)
    # With importance samples the quadrature is no longer exact but stays close.
    fine = render_rays(field, *_x_rays(), RenderConfig(samples=16, importance_samples=16, deterministic=True))
    assert torch.allclose(fine.opacity, torch.full((1, 3), alpha), atol=0.05)


def test_depth_of_an_opaque_plane():
    # An opaque half-space x >= 1.234: everything in front is empty, so the expected
    # depth is where the ray enters it, up to the quadrature: one interval around the
    # surface, which importance sampling makes narrow.
    field = FunctionField(lambda p: 1e4 * (p[..., 0] >= 1.234).float())
    coarse = render_rays(field, *_x_rays(), RenderConfig(samples=48, importance_samples=0, deterministic=True))
    assert torch.allclose(coarse.opacity, torch.ones(1, 3))
    assert torch.allclose(coarse.depth, torch.full((1, 3), 1.234), atol=1.6 / 48)
    fine = render_rays(field, *_x_rays(), RenderConfig(samples=48, importance_samples=48, deterministic=True))
    assert torch.allclose(fine.depth, torch.full((1, 3), 1.234), atol=0.2 / 48)


def test_background_shows_where_density_is_zero():
    field = FunctionField(lambda p: torch.zeros(p.shape[:-1]))
    background = torch.tensor([0.2, 0.4, 0.6, 0.8])
    field.colour = torch.ones(4)
    out = render_rays(field, *_x_rays(5), RenderConfig(samples=8, importance_samples=8), background)
    assert torch.equal(out.opacity, torch.zeros(1, 5))
    assert torch.allclose(out.image, background.expand(1, 5, 4))
    assert torch.equal(out.depth, torch.zeros(1, 5))


def test_importance_samples_concentrate_where_the_weights_are():
    # Coarse weights: all mass in interval 5 of 16 (t in [1.0, 1.1)). After the blur the
    # pdf is 1 on intervals 4..6 (max filter spreads it to neighbours: 0.5, 1, 0.5 after
    # the box filter) plus padding 0.01 * 16 = 0.16 spread evenly: 2 / 2.16 = 93% of
    # samples fall within [0.9, 1.2), where uniform sampling would put 3/16 = 19%.
    t = stratified_samples((1,), 16, 0.5, 2.1, deterministic=True)
    starts, ends = sample_intervals(t, 0.5, 2.1)
    weights = torch.zeros(1, 16)
    weights[0, 5] = 1.0
    fine = importance_samples(starts, ends, weights, 200, deterministic=True)
    inside = ((fine >= 0.9) & (fine < 1.2)).float().mean()
    assert inside > 0.9
    assert torch.all(fine[..., 1:] >= fine[..., :-1])  # sorted
    # The blurred pdf puts twice the mass on interval 5 as on 4 and 6.
    in5 = ((fine >= 1.0) & (fine < 1.1)).sum()
    in4 = ((fine >= 0.9) & (fine < 1.0)).sum()
    assert abs(in5.item() / in4.item() - 2.0) < 0.1


def test_importance_samples_match_reference():
    g = torch.Generator().manual_seed(3)
    t = stratified_samples((5,), 12, 0.5, 2.1, generator=g)
    starts, ends = sample_intervals(t, 0.5, 2.1)
    weights = torch.rand(5, 12, generator=g) ** 4
    fine = importance_samples(starts, ends, weights, 9, deterministic=True)
    u = ((torch.arange(9) + 0.5) / 9).expand(5, 9)
    slow = importance_samples_reference(starts, ends, weights, u)
    assert torch.allclose(fine, slow, atol=1e-5)


def test_all_zero_weights_give_uniform_samples():
    t = stratified_samples((1,), 8, 0.5, 2.1, deterministic=True)
    starts, ends = sample_intervals(t, 0.5, 2.1)
    fine = importance_samples(starts, ends, torch.zeros(1, 8), 4, deterministic=True, padding=0.0)
    # Uniform over [0.5, 2.1]: quantiles 1/8, 3/8, 5/8, 7/8 -> 0.7, 1.1, 1.5, 1.9.
    assert torch.allclose(fine, torch.tensor([[0.7, 1.1, 1.5, 1.9]]), atol=1e-5)


def test_expected_depth_is_zero_without_hits():
    weights = torch.zeros(2, 4)
    t = torch.linspace(1, 2, 4).expand(2, 4)
    assert torch.equal(expected_depth(weights, t), torch.zeros(2))
