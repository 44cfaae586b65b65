"""The decoder's metric for Encode-Scene (`latentscenes.autoencoder.sensitivity`): closed forms
on decoders whose Jacobian is known."""

import pytest
import torch
import torch.nn.functional as F

from latentscenes.autoencoder.sensitivity import decoder_metric, metric_factor


def _linear_decoder(mixing: torch.Tensor, factor: int):
    """A 1x1 convolution by `mixing` (3, c), then nearest upsampling by `factor`: one latent
    pixel's error d moves factor^2 image pixels by mixing @ d each, so M = factor^2 A^T A."""

    def decode(latents: torch.Tensor) -> torch.Tensor:
        mixed = torch.einsum("oc,bchw->bohw", mixing, latents)
        return F.interpolate(mixed, scale_factor=factor, mode="nearest")

    return decode


def test_metric_of_a_linear_decoder_is_its_squared_mixing_per_latent_pixel():
    generator = torch.Generator().manual_seed(0)
    mixing = torch.randn(3, 5, generator=generator)
    latents = torch.rand(2, 5, 6, 7, generator=generator) * 2 - 1
    metric = decoder_metric(_linear_decoder(mixing, 4), latents, probes=1, generator=generator)
    assert torch.allclose(metric, 16 * mixing.T @ mixing, rtol=1e-4, atol=1e-4)


def test_metric_averages_out_the_overlap_of_neighbouring_latent_pixels():
    """A 3x3 convolution mixes neighbours: M is the sum of its taps' squared mixings
    (sum_k W_k^T W_k), which random-sign probes reach on average, not the coherent sum."""
    generator = torch.Generator().manual_seed(1)
    weight = torch.randn(3, 4, 3, 3, generator=generator)
    expected = torch.einsum("ocij,odij->cd", weight, weight)

    def decode(latents):
        return F.conv2d(F.pad(latents, (1, 1, 1, 1), mode="circular"), weight)

    latents = torch.zeros(8, 4, 16, 16)
    metric = decoder_metric(decode, latents, probes=8, generator=generator)
    assert torch.allclose(metric, expected, rtol=0.05, atol=0.05 * expected.abs().max())
    coherent = torch.einsum("oc,od->cd", weight.sum((2, 3)), weight.sum((2, 3)))
    assert not torch.allclose(metric, coherent, rtol=0.5)


def test_factor_gives_the_blended_metric_at_the_plain_losses_scale():
    generator = torch.Generator().manual_seed(2)
    a = torch.randn(4, 4, generator=generator)
    metric = a.T @ a
    factor = metric_factor(metric, floor=0.25)
    blended = 0.75 * metric / metric.diagonal().mean() + 0.25 * torch.eye(4)
    assert torch.allclose(factor @ factor.T, blended, atol=1e-5)
    errors = torch.randn(100, 4, generator=generator)
    isotropic = metric_factor(3 * torch.eye(4), floor=0.0)
    assert torch.allclose(isotropic @ isotropic.T, torch.eye(4), atol=1e-6)
    plain = metric_factor(metric, floor=1.0)
    assert torch.allclose((errors @ plain).square().mean(), errors.square().mean(), rtol=1e-5)
    with pytest.raises(ValueError, match="floor"):
        metric_factor(metric, floor=1.5)


def test_metric_is_the_same_whatever_the_memory_layout_of_the_latents():
    """A resumed run reads its cached latents in another layout than the run that computed them
    (channels last in memory, contiguous from disk): the metric, and so the run, must not change."""
    from latentscenes.autoencoder import AutoencoderConfig, build_autoencoder

    decoder = build_autoencoder(AutoencoderConfig(vae="", preset="tiny", downsample=4)).decode
    latents = torch.randn(4, 8, 8, 4, generator=torch.Generator().manual_seed(0)).permute(0, 3, 1, 2)  # channels last
    assert not latents.is_contiguous()
    metrics = [decoder_metric(decoder, values, generator=torch.Generator().manual_seed(1))
               for values in (latents, latents.contiguous())]
    assert torch.equal(metrics[0], metrics[1])
