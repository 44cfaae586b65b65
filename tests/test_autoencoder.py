"""Autoencoder presets, loading (from_pretrained of a local folder), save/load, encode/decode API."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
from diffusers import AutoencoderKL

from latentscenes.autoencoder import (
    AutoencoderConfig,
    build_autoencoder,
    load_autoencoder,
    preset_kwargs,
    save_autoencoder,
)
from latentscenes.config import load_config
from latentscenes.errors import CheckpointError, ConfigError


def images(batch=2, size=32, seed=0):
    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.fixture(scope="module")
def tiny():
    return build_autoencoder(AutoencoderConfig(preset="tiny", downsample=8, normalization="tanh"))


@pytest.mark.parametrize("preset, downsample, size", [
    ("tiny", 2, 32), ("tiny", 4, 32), ("tiny", 8, 32), ("small", 4, 32), ("small", 8, 32), ("medium", 8, 32), ("sd", 8, 16),
])
def test_presets_give_the_latent_shape(preset, downsample, size):
    ae = build_autoencoder(AutoencoderConfig(preset=preset, downsample=downsample))
    assert ae.downsample_factor == downsample
    with torch.no_grad():
        latents = ae.encode(images(2, size), sample=False)
        assert latents.shape == (2, 4, size // downsample, size // downsample)
        assert ae.latent_shape(size, size) == tuple(latents.shape[1:])
        assert ae.decode(latents).shape == (2, 3, size, size)


def test_preset_sizes_match_the_known_architectures():
    count = lambda cfg: sum(p.numel() for p in build_autoencoder(cfg).parameters())  # noqa: E731
    assert count(AutoencoderConfig(preset="sd")) == 83_653_863  # stabilityai/sd-vae-ft-mse
    assert count(AutoencoderConfig(preset="medium")) == 3_884_295  # 32-64-128-128 channels
    assert count(AutoencoderConfig(preset="small")) == 2_725_623
    assert preset_kwargs("small", 4)["block_out_channels"] == (16, 32, 64)


@pytest.mark.parametrize("downsample", [3, 16, 0])
def test_bad_downsample_names_the_key(downsample):
    with pytest.raises(ConfigError, match="autoencoder.downsample"):
        preset_kwargs("small", downsample)


def test_config_loads_with_overrides_and_ranges():
    cfg = load_config(AutoencoderConfig, overrides=["downsample=4", "normalization=tanh"])
    assert (cfg.downsample, cfg.normalization) == (4, "tanh")
    with pytest.raises(ConfigError, match="normalization"):
        load_config(AutoencoderConfig, overrides=["normalization=minmax"])


def test_build_is_seeded_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    a = build_autoencoder(AutoencoderConfig(preset="tiny", seed=1))
    assert torch.equal(torch.rand(1), expected)
    b = build_autoencoder(AutoencoderConfig(preset="tiny", seed=1))
    c = build_autoencoder(AutoencoderConfig(preset="tiny", seed=2))
    for (name, pa), pb, pc in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(pa, pb), name
    assert not all(torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))


def test_from_pretrained_of_a_local_folder(tmp_path, tiny):
    tiny.vae.save_pretrained(tmp_path / "vae")
    ae = build_autoencoder(AutoencoderConfig(vae=str(tmp_path / "vae"), normalization="tanh", tanh_scale=0.5))
    x = images()
    with torch.no_grad():
        assert torch.allclose(ae.encode(x, sample=False), tiny.encode(x, sample=False))
        assert torch.allclose(ae.reconstruct(x), tiny.reconstruct(x))
    assert float(ae.normalizer.scale) == 0.5
    # a full Stable Diffusion pipeline folder holds the VAE in vae/
    ae = build_autoencoder(AutoencoderConfig(vae=str(tmp_path)))
    assert ae.downsample_factor == 8 and ae.normalizer.kind == "standardize"


def test_loading_errors_name_the_path(tmp_path, tiny):
    missing = tmp_path / "nowhere"
    with pytest.raises(CheckpointError, match=str(missing)):
        build_autoencoder(AutoencoderConfig(vae=str(missing)))
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="config.json"):
        build_autoencoder(AutoencoderConfig(vae=str(tmp_path / "empty")))
    tiny.vae.save_pretrained(tmp_path / "bad")
    (tmp_path / "bad" / "diffusion_pytorch_model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match="bad"):
        build_autoencoder(AutoencoderConfig(vae=str(tmp_path / "bad")))
    with pytest.raises(CheckpointError, match="no-such-owner/no-such-vae"):
        build_autoencoder(AutoencoderConfig(vae="no-such-owner/no-such-vae"))
    with pytest.raises(CheckpointError, match="save_autoencoder"):
        load_autoencoder(tmp_path / "bad")


def test_save_load_round_trip(tmp_path):
    ae = build_autoencoder(AutoencoderConfig(preset="tiny", downsample=4))
    ae.fit_normalizer(images(4, 32, seed=3))
    folder = save_autoencoder(ae, tmp_path / "ae")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ae"]  # no staging folder left
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json", "diffusion_pytorch_model.safetensors", "normalizer.json", "normalizer.safetensors",
    ]
    for loaded in (load_autoencoder(folder), build_autoencoder(AutoencoderConfig(vae=str(folder)))):
        for (name, a), b in zip(ae.state_dict().items(), loaded.state_dict().values()):
            assert torch.equal(a, b), name
        x = images(2, 32, seed=4)
        with torch.no_grad():
            assert torch.equal(loaded.encode_normalized(x, sample=False), ae.encode_normalized(x, sample=False))
    assert isinstance(AutoencoderKL.from_pretrained(folder), AutoencoderKL)  # plain diffusers reads it too
    save_autoencoder(ae, folder)  # overwriting works


def test_encode_sample_and_mean(tiny):
    x = images()
    with torch.no_grad():
        mean = tiny.encode(x, sample=False)
        posterior = tiny.posterior(x)
        assert torch.equal(mean, posterior.mean)
        a = tiny.encode(x, sample=True, generator=torch.Generator().manual_seed(0))
        b = tiny.encode(x, sample=True, generator=torch.Generator().manual_seed(0))
        assert torch.equal(a, b) and not torch.equal(a, mean)
        assert torch.allclose((a - mean) / posterior.std, torch.randn(a.shape, generator=torch.Generator().manual_seed(0)), atol=1e-4)


def test_normalized_encode_decode_compose(tiny):
    x = images()
    with torch.no_grad():
        z = tiny.encode(x, sample=False)
        z_n = tiny.encode_normalized(x, sample=False)
        assert torch.allclose(z_n, torch.tanh(0.02 * z))
        assert torch.allclose(tiny.decode_normalized(z_n), tiny.decode(z), atol=1e-4)


def test_latent_background_is_the_normalised_latent_of_white(tiny):
    background = tiny.latent_background(32)
    assert background.shape == (4,) and not background.requires_grad
    with torch.no_grad():
        z_n = tiny.normalizer(tiny.encode(torch.ones(1, 3, 32, 32), sample=False))
    assert torch.allclose(background, z_n.mean(dim=(0, 2, 3)))
    assert torch.equal(background, tiny.latent_background((32, 32)))


def test_parameter_groups_split_the_autoencoder(tiny):
    encoder = {id(p) for p in tiny.encoder_parameters()}
    decoder = {id(p) for p in tiny.decoder_parameters()}
    assert not encoder & decoder
    assert encoder | decoder == {id(p) for p in tiny.parameters()}
    assert {id(p) for p in tiny.vae.quant_conv.parameters()} <= encoder
    assert {id(p) for p in tiny.vae.post_quant_conv.parameters()} <= decoder


def test_bad_shapes_are_refused(tiny):
    with pytest.raises(ValueError, match="divisible"):
        tiny.encode(images(1, 30))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        tiny.encode(torch.zeros(1, 32, 32, 3))
    with pytest.raises(ValueError, match=r"\(B, 4, h, w\)"):
        tiny.decode(torch.zeros(1, 3, 4, 4))


def test_fully_convolutional_drops_the_middle_attention():
    assert preset_kwargs("small", 4)["mid_block_add_attention"] is True
    assert preset_kwargs("small", 4, attention=False)["mid_block_add_attention"] is False
    ae = build_autoencoder(AutoencoderConfig(preset="small", downsample=4, fully_convolutional=True))
    assert not any("attentions" in name for name, _ in ae.named_parameters())
    with_attention = build_autoencoder(AutoencoderConfig(preset="small", downsample=4))
    assert any("attentions" in name for name, _ in with_attention.named_parameters())
