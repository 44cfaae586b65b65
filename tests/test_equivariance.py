"""Latent equivariance: warps that keep images and their latents aligned, and a loss that is
zero for a decoder that commutes with warps and large for one that does not."""

import torch
import torch.nn.functional as F

from latentscenes.autoencoder.equivariance import equivariance_loss, random_similarity, warp


def _smooth_images(batch: int = 4, latent: int = 8, factor: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Latents (B, 2, l, l) of linear ramps within [-0.9, 0.9], and their bilinear 4x upsampling
    as images (B, 3, L, L)."""
    coords = (torch.arange(latent) + 0.5) / latent * 2 - 1
    y, x = torch.meshgrid(coords, coords, indexing="ij")
    weights = torch.rand(batch, 2, 3, generator=torch.Generator().manual_seed(0)) * 0.6 - 0.3
    latents = weights[..., 0, None, None] * x + weights[..., 1, None, None] * y + weights[..., 2, None, None]
    images = F.interpolate(latents, scale_factor=factor, mode="bilinear", align_corners=False)
    return latents, torch.cat([images, images[:, :1]], dim=1)


def _bilinear_decoder(latents: torch.Tensor) -> torch.Tensor:
    upsampled = F.interpolate(latents, scale_factor=4, mode="bilinear", align_corners=False)
    return torch.cat([upsampled, upsampled[:, :1]], dim=1)


def test_no_warp_is_the_identity():
    images = torch.rand(2, 3, 12, 16)
    theta = random_similarity(2, max_rotation=0.0, max_zoom=0.0, max_shift=0.0)
    assert torch.allclose(theta, torch.tensor([[1.0, 0, 0], [0, 1, 0]]).expand(2, 2, 3))
    assert torch.allclose(warp(images, theta), images, atol=1e-6)


def test_warps_stay_within_their_bounds():
    theta = random_similarity(500, max_rotation=10.0, max_zoom=0.15, max_shift=0.05, generator=torch.Generator().manual_seed(1))
    scale = torch.linalg.det(theta[:, :, :2]).sqrt()
    angle = torch.rad2deg(torch.atan2(theta[:, 1, 0], theta[:, 0, 0]))
    assert bool((scale <= 1.15 + 1e-5).all() and (scale >= 1 / 1.15 - 1e-5).all())
    assert bool((angle.abs() <= 10 + 1e-4).all()) and angle.abs().max() > 8
    assert bool((theta[:, :, 2].abs() <= 0.1 + 1e-6).all())


def test_a_decoder_that_commutes_with_warps_has_no_equivariance_loss():
    latents, images = _smooth_images()
    assert torch.allclose(_bilinear_decoder(latents), images)
    theta = random_similarity(4, generator=torch.Generator().manual_seed(2))
    loss = equivariance_loss(_bilinear_decoder, latents, images, theta)
    # a quarter-latent-pixel shift of the latent grid (one image pixel) is an equivariance error
    shifted = lambda z: _bilinear_decoder(torch.roll(z, 1, dims=3))  # noqa: E731
    broken = equivariance_loss(shifted, latents, images, theta)
    # not exactly 0: decoding near the excluded margin reads latent pixels warped in from the
    # edge; a quarter-pixel misalignment of image and latent warps would give ~broken / 16
    assert loss < 1e-2 * broken, (loss, broken)


def test_pixels_warped_in_from_outside_the_image_are_not_counted():
    images = torch.ones(1, 3, 16, 16)
    zoom_out = torch.tensor([[[2.0, 0, 0], [0, 2.0, 0]]])  # the outer 3/4 reads outside the image
    inner = torch.zeros(1, 3, 16, 16)
    inner[..., 5:11, 5:11] = 1  # sources within (-0.875, 0.875): inside, half a latent pixel from the edge
    loss = equivariance_loss(lambda z: inner, torch.zeros(1, 1, 4, 4), images, zoom_out)
    assert loss == 0
    assert equivariance_loss(lambda z: inner * 0, torch.zeros(1, 1, 4, 4), images, zoom_out) == 1  # (0 - 1)^2


def test_probe_warps_of_a_decoder_that_commutes_with_warps_decode_almost_exactly():
    from latentscenes.autoencoder.equivariance import probe_warps, warped_decoding_error

    latents, images = _smooth_images(batch=2)
    warps = probe_warps(images.shape[-1])
    assert warps.shape == (3, 2, 3)
    good = torch.stack([warped_decoding_error(_bilinear_decoder, latents, images, t) for t in warps])
    shifted = lambda z: _bilinear_decoder(torch.roll(z, 1, dims=3))  # noqa: E731
    bad = torch.stack([warped_decoding_error(shifted, latents, images, t) for t in warps])
    assert good.shape == (3, 2) and bool((good < 1e-2 * bad).all())
