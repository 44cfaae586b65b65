"""Latent normalisation: tanh (the reference) and per-channel standardisation round trips and state."""

import math

import pytest
import torch
from safetensors.torch import load_file, save_file

from latentscenes.autoencoder.normalize import (
    StandardizeNormalizer,
    TanhNormalizer,
    make_normalizer,
    normalizer_from_description,
)


def latents(n=8, c=4, size=4, seed=0):
    """Channel c has mean c - 1.5 and std c + 0.5, like a from-scratch AE's uneven channels."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, c, size, size, generator=g)
    return z * (torch.arange(c) + 0.5).view(1, c, 1, 1) + (torch.arange(c) - 1.5).view(1, c, 1, 1)


def test_tanh_matches_the_reference_formula_and_round_trips():
    norm = TanhNormalizer(0.02)
    z = latents() * 10  # |0.02 z| stays well inside the clip
    assert torch.allclose(norm(z), torch.tanh(0.02 * z))
    assert torch.allclose(norm.denormalize(norm(z)), z, atol=1e-3)


def test_tanh_inverse_clips_at_one_minus_1e4():
    norm = TanhNormalizer(0.02)
    # atanh(1 - 1e-4) = 0.5 ln((2 - 1e-4) / 1e-4) = 0.5 ln(19999) = 4.95172; / 0.02 = 247.586
    edge = 0.5 * math.log(19999) / 0.02
    z_n = torch.tensor([1.0, -1.0, 0.99995, 2.0], requires_grad=True)
    z = norm.denormalize(z_n)
    assert torch.allclose(z, torch.tensor([edge, -edge, edge, edge]), rtol=1e-4)
    z.sum().backward()
    assert torch.isfinite(z_n.grad).all()


def test_standardize_fits_per_channel_statistics():
    z = latents(64)
    norm = StandardizeNormalizer(4, k=3.0).fit(z)
    assert torch.allclose(norm.mean, z.mean(dim=(0, 2, 3)), atol=1e-5)
    assert torch.allclose(norm.std, z.transpose(0, 1).reshape(4, -1).std(dim=1), atol=1e-5)
    streamed = StandardizeNormalizer(4).fit(iter(z.split(5)))
    assert torch.allclose(streamed.mean, norm.mean) and torch.allclose(streamed.std, norm.std)
    z_n = norm(z)
    expected = ((z - norm.mean.view(1, 4, 1, 1)) / (3 * norm.std.view(1, 4, 1, 1))).clamp(-0.99, 0.99)
    assert torch.allclose(z_n, expected)
    assert z_n.abs().max() <= 0.99


def test_standardize_round_trips_inside_the_clamp_and_saturates_outside():
    z = latents(64)
    norm = StandardizeNormalizer(4, k=3.0).fit(z)
    inside = (norm(z).abs() < 0.99)
    assert inside.float().mean() > 0.99  # k = 3: about 0.3% of a Gaussian is clamped
    assert torch.allclose(norm.denormalize(norm(z))[inside], z[inside], atol=1e-5)
    far = norm.mean.view(1, 4, 1, 1) + 10 * norm.std.view(1, 4, 1, 1) * torch.ones(1, 4, 2, 2)
    assert torch.allclose(norm(far), torch.full_like(far, 0.99))
    # inverse of the clamp edge: mean + 0.99 * 3 std
    assert torch.allclose(norm.denormalize(norm(far)), norm.mean.view(1, 4, 1, 1) + 2.97 * norm.std.view(1, 4, 1, 1))


def test_standardize_must_be_fitted_and_shaped():
    norm = StandardizeNormalizer(4)
    with pytest.raises(RuntimeError, match="not fitted"):
        norm(latents())
    with pytest.raises(ValueError, match=r"\(N, 4, h, w\)"):
        norm.fit(torch.zeros(2, 3, 4, 4))


@pytest.mark.parametrize("kind", ["tanh", "standardize"])
def test_state_saves_and_loads_as_tensors(tmp_path, kind):
    norm = make_normalizer(kind, 4, tanh_scale=0.05, k=2.0).fit(latents(16))
    save_file({k: v.contiguous() for k, v in norm.state_dict().items()}, str(tmp_path / "n.safetensors"))
    loaded = normalizer_from_description(norm.describe())
    loaded.load_state_dict(load_file(str(tmp_path / "n.safetensors")))
    z = latents(seed=1)
    assert torch.equal(loaded(z), norm(z))
    assert torch.equal(loaded.denormalize(norm(z)), norm.denormalize(norm(z)))
    assert loaded.describe() == norm.describe()


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="minmax"):
        make_normalizer("minmax", 4)
