"""The tiny MLP that turns Tri-Plane features into density and colour, shared by all scenes.

    h       = softplus(W1 f + b1)                        f: C features (+ 3 view dir)
    raw     = W2 h + b2                                  raw: 1 + C_out
    density = softplus(raw[0] + density_shift)           >= 0 (EG3D: shift -1)
    colour  = sigmoid(raw[1:]) * 1.002 - 0.001           MipNeRF clamp, in [-0.001, 1.001]

The forward pass works channel-last on what `sample_triplane_rays` returns, (B, Nr, S, C),
as two matrix products over all B * Nr * S points at once (`addmm`): no permute, no
copy, one GEMM per layer whatever the batch. The tests compare it with an
nn.Linear-style twin (`tests/reference.py`).

With `equalized_lr` (the default, as EG3D's FullyConnectedLayer) weights are stored as
N(0, 1) draws and multiplied by 1/sqrt(fan_in) in forward; the function computed at init
is the same as a plain N(0, 1/fan_in) init, but Adam's steps are 1/sqrt(fan_in) smaller
relative to the weights, which is what the reference learning rates assume.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latentscenes.rendering.config import DecoderConfig

__all__ = ["TriPlaneDecoder", "colour_activation"]


def colour_activation(raw: Tensor) -> Tensor:
    """MipNeRF-clamped sigmoid: sigmoid(raw) * 1.002 - 0.001 (elementwise)."""
    return torch.sigmoid(raw) * 1.002 - 0.001


class TriPlaneDecoder(nn.Module):
    """C -> hidden (softplus) -> 1 + C_out: features (B, Nr, S, C) -> density (B, Nr, S), colour (B, Nr, S, C_out)."""

    def __init__(self, in_channels: int = 32, out_channels: int = 3, config: DecoderConfig | None = None):
        super().__init__()
        config = config or DecoderConfig()
        self.config = config
        self.in_channels = in_channels
        self.out_channels = out_channels
        fan_in1 = in_channels + (3 if config.view_dependent else 0)
        fan_in2 = config.hidden
        self.gain1 = 1.0 / math.sqrt(fan_in1) if config.equalized_lr else 1.0
        self.gain2 = 1.0 / math.sqrt(fan_in2) if config.equalized_lr else 1.0
        std1 = 1.0 if config.equalized_lr else 1.0 / math.sqrt(fan_in1)
        std2 = 1.0 if config.equalized_lr else 1.0 / math.sqrt(fan_in2)
        self.weight1 = nn.Parameter(torch.randn(config.hidden, fan_in1) * std1)
        self.bias1 = nn.Parameter(torch.zeros(config.hidden))
        self.weight2 = nn.Parameter(torch.randn(1 + out_channels, config.hidden) * std2)
        self.bias2 = nn.Parameter(torch.zeros(1 + out_channels))

    def effective_weights(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(W1, b1, W2, b2) as used in forward (gains applied): W1 (hidden, C[+3]), W2 (1+C_out, hidden)."""
        return self.weight1 * self.gain1, self.bias1, self.weight2 * self.gain2, self.bias2

    def forward(self, features: Tensor, directions: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """features: (B, Nr, S, C) channel-last (or any (..., C) when not view-dependent).

        directions: (B, Nr, 3) unit ray directions, used only when view_dependent (one per
        ray, broadcast over the S samples). Returns density (B, Nr, S) >= 0 and colour
        (B, Nr, S, C_out). Both layers are single matrix products over all points.
        """
        c = features.shape[-1]
        if c != self.in_channels:
            raise ValueError(f"decoder expects {self.in_channels} feature channels, got {c}")
        point_shape = features.shape[:-1]
        flat = features.reshape(-1, c)  # (P, C)
        w1, b1, w2, b2 = self.effective_weights()
        hidden = torch.addmm(b1, flat, w1[:, :c].t())  # (P, H)
        if self.config.view_dependent:
            if directions is None:
                raise ValueError("a view-dependent decoder needs ray directions")
            per_ray = torch.matmul(directions, w1[:, c:].t())  # (B, Nr, H)
            hidden = (hidden.view(*point_shape, -1) + per_ray[:, :, None, :]).view(flat.shape[0], -1)
        hidden = F.softplus(hidden)
        raw = torch.addmm(b2, hidden, w2.t())  # (P, 1 + C_out)
        density = F.softplus(raw[:, 0] + self.config.density_shift)
        colour = colour_activation(raw[:, 1:])
        return density.view(point_shape), colour.view(*point_shape, -1)


