"""The scene bank: shapes, the micro-macro formula, gathering only selected scenes,
sparse gradients, growing, freezing, stage-2 banks and state round trips."""

import pytest
import torch

from latentscenes.engine.footprint import scene_footprint
from latentscenes.errors import ConfigError
from latentscenes.scenes import SceneBank
from latentscenes.scenes.config import TriPlaneConfig

SMALL = dict(channels=8, resolution=4, micro_channels=3, num_bases=5)


def test_reference_shapes_and_sizes():
    config = TriPlaneConfig()  # reference: 32 = 10 micro + 22 macro channels, 64^2, M = 50
    bank = SceneBank(2, config)
    assert bank.micro.shape == (2, 3, 10, 64, 64)
    assert bank.bases.shape == (50, 3, 22, 64, 64)
    assert bank.weights.shape == (2, 50) and bank.bias.shape == (2,)
    assert bank(torch.tensor([1])).shape == (1, 3, 32, 64, 64)
    # Per scene 122,880 micro values + 50 weights + 1 bias; 13.5M shared base values (float32).
    assert scene_footprint(bank).parameter_bytes_per_scene == 4 * (122_880 + 51)
    assert scene_footprint(bank).shared_bytes == 4 * 13_516_800
    plain = SceneBank(2, TriPlaneConfig(micro_macro=False))
    assert plain.planes.shape == (2, 3, 32, 64, 64) and scene_footprint(plain).parameter_bytes_per_scene == 4 * 393_216
    assert scene_footprint(plain).shared_bytes == 0
    assert plain.parameter_groups() == {"planes": [plain.planes], "weights": [], "bases": []}
    assert bank.parameter_groups() == {"planes": [bank.micro], "weights": [bank.weights, bank.bias], "bases": [bank.bases]}


def test_micro_macro_formula():
    bank = SceneBank(4, TriPlaneConfig(**SMALL), torch.Generator().manual_seed(0))
    with torch.no_grad():
        bank.bias.copy_(torch.tensor([0.0, 0.5, -1.0, 2.0]))
    index = torch.tensor([2, 0])
    planes = bank(index)
    for row, s in enumerate(index.tolist()):
        macro = sum(bank.weights[s, b] * bank.bases[b] for b in range(5)) + bank.bias[s]
        expected = torch.cat([bank.micro[s], macro], dim=1)  # channels of each plane
        assert torch.allclose(planes[row], expected, atol=1e-6)


def test_init_scales():
    bank = SceneBank(64, TriPlaneConfig(channels=12, resolution=8, micro_channels=4, num_bases=16, init_std=0.1))
    planes = bank(torch.arange(64))
    # Micro ~ N(0, 0.1^2); macro = sum of 16 N(0,1) weights x N(0, (0.1/4)^2) bases: std 0.1 too.
    assert abs(planes[:, :, :4].std().item() - 0.1) < 0.01
    assert abs(planes[:, :, 4:].std().item() - 0.1) < 0.03
    assert torch.equal(bank.bias, torch.zeros(64))


@pytest.mark.parametrize("sparse", [False, True])
def test_gather_touches_only_selected_scenes(sparse):
    bank = SceneBank(6, TriPlaneConfig(**SMALL, sparse_grad=sparse))
    bank(torch.tensor([4, 1, 4])).square().sum().backward()
    for param in (bank.micro, bank.weights, bank.bias):
        assert param.grad.is_sparse == sparse
        if sparse:  # the sparse gradient holds the touched rows only, once each
            rows = param.grad.coalesce().indices()[0]
            assert rows.tolist() == [1, 4]
        grad = param.grad.to_dense() if sparse else param.grad
        touched = grad.reshape(6, -1).abs().sum(1) > 0
        assert touched.tolist() == [False, True, False, False, True, False]
    assert not bank.bases.grad.is_sparse and bank.bases.grad.abs().sum() > 0


@pytest.mark.parametrize("sparse", [False, True])
def test_gradients_match_the_micro_macro_formula(sparse):
    """The bank's own backward of the basis mix against autograd through the formula."""
    bank = SceneBank(4, TriPlaneConfig(**SMALL, sparse_grad=sparse), torch.Generator().manual_seed(1)).double()
    with torch.no_grad():
        bank.bias.normal_()
    index = torch.tensor([2, 0, 2])
    upstream = torch.randn(3, 3, 8, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    (bank(index) * upstream).sum().backward()

    params = {name: p.detach().clone().requires_grad_() for name, p in bank.named_parameters()}
    macro = torch.einsum("sb,b...->s...", params["weights"][index], params["bases"]) + params["bias"][index].view(-1, 1, 1, 1, 1)
    (torch.cat([params["micro"][index], macro], dim=2) * upstream).sum().backward()
    for name, param in bank.named_parameters():
        grad = param.grad.to_dense() if param.grad.is_sparse else param.grad
        torch.testing.assert_close(grad, params[name].grad, msg=name)


def test_sparse_adam_updates_only_the_batch():
    bank = SceneBank(5, TriPlaneConfig(**SMALL, sparse_grad=True))
    optimizer = torch.optim.SparseAdam(bank.sparse_parameters(), lr=0.1)
    before = bank.micro.detach().clone()
    bank(torch.tensor([3])).sum().backward()
    optimizer.step()
    changed = (bank.micro - before).reshape(5, -1).abs().sum(1) > 0
    assert changed.tolist() == [False, False, False, True, False]


def test_plain_bank_gathers_rows():
    bank = SceneBank(3, TriPlaneConfig(**{**SMALL, "micro_macro": False}))
    assert torch.equal(bank(torch.tensor([2, 0])), bank.planes[[2, 0]])


def test_state_dict_round_trip():
    bank = SceneBank(6, TriPlaneConfig(**SMALL), torch.Generator().manual_seed(0))
    loaded = SceneBank(6, TriPlaneConfig(**SMALL), torch.Generator().manual_seed(1))
    assert not torch.equal(loaded(torch.arange(6)), bank(torch.arange(6)))
    loaded.load_state_dict(bank.state_dict())
    assert torch.equal(loaded(torch.arange(6)), bank(torch.arange(6)))


def test_config_validation():
    with pytest.raises(ConfigError, match="micro_channels"):
        TriPlaneConfig(channels=8, micro_channels=8)
    assert TriPlaneConfig(micro_macro=False, channels=8, micro_channels=10).macro_channels == 0


@pytest.mark.parametrize("sparse", [False, True])
def test_ultralight_scenes_are_base_weights_and_a_bias(sparse):
    """ULW: planes_s = sum_b W[s, b] B_b + bias_s, every channel from the bases; the gradients
    are dL/dW[s, b] = <G_s, B_b> and dL/dbias_s = sum(G_s) for an upstream gradient G."""
    config = TriPlaneConfig(channels=4, resolution=3, micro_channels=0, num_bases=5, sparse_grad=sparse)
    bank = SceneBank(6, config, torch.Generator().manual_seed(0)).double()
    assert config.ultralight and bank.per_scene_names() == ("weights", "bias")
    assert bank.plane_parameters() == [] and scene_footprint(bank).parameter_bytes_per_scene == 8 * (5 + 1)  # float64
    with torch.no_grad():
        bank.bias.normal_()
    index = torch.tensor([4, 1])
    planes = bank(index)
    assert planes.shape == (2, 3, 4, 3, 3)
    expected = torch.einsum("sb,bpcxy->spcxy", bank.weights[index], bank.bases) + bank.bias[index].view(2, 1, 1, 1, 1)
    torch.testing.assert_close(planes, expected)

    upstream = torch.randn(2, 3, 4, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    (planes * upstream).sum().backward()
    grad_weights = bank.weights.grad.to_dense() if sparse else bank.weights.grad
    grad_bias = bank.bias.grad.to_dense() if sparse else bank.bias.grad
    for row, s in enumerate(index.tolist()):
        torch.testing.assert_close(grad_weights[s], torch.einsum("pcxy,bpcxy->b", upstream[row], bank.bases.detach()))
        torch.testing.assert_close(grad_bias[s], upstream[row].sum())
    untouched = [s for s in range(6) if s not in index.tolist()]
    assert grad_weights[untouched].abs().sum() == 0 and grad_bias[untouched].abs().sum() == 0
    assert bank.micro.grad is None and bank.bases.grad.abs().sum() > 0


def test_ultralight_scene_of_the_reference_size_is_51_values():
    bank = SceneBank(3, TriPlaneConfig(micro_channels=0))
    assert scene_footprint(bank).parameter_bytes_per_scene == 4 * (50 + 1)
    assert bank.bases.shape == (50, 3, 32, 64, 64)
    assert bank(torch.tensor([2, 0])).shape == (2, 3, 32, 64, 64) and bank.micro.numel() == 0
