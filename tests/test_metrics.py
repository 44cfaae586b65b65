import math

import torch

from latentscenes.evaluation.metrics import psnr, psnr_from_mse, ssim


def test_psnr_matches_closed_form_on_minus_one_one_range():
    target = torch.zeros(2, 3, 8, 8)
    prediction = target + 0.1  # MSE = 0.01 -> PSNR = 10 log10(4 / 0.01) = 26.02 dB
    assert torch.allclose(psnr(prediction, target), torch.full((2,), 10 * math.log10(400)), atol=1e-4)
    assert torch.allclose(psnr_from_mse(torch.tensor([0.01, 4.0])), torch.tensor([10 * math.log10(400), 0.0]), atol=1e-4)


def test_ssim_is_one_for_identical_images_and_lower_for_noise():
    torch.manual_seed(0)
    image = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.allclose(ssim(image, image), torch.ones(2), atol=1e-5)
    noisy = (image + 0.3 * torch.randn_like(image)).clamp(-1, 1)
    assert (ssim(noisy, image) < 0.9).all()
