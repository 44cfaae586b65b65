"""Latent cache: hits for the same encoder and images, misses when either changes, atomic files."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

from latentscenes.autoencoder import AutoencoderConfig, LatentCache, build_autoencoder, encoder_key, images_to_model


def views(v=3, size=32, seed=0):
    return torch.randint(0, 256, (v, size, size, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


@pytest.fixture()
def ae():
    return build_autoencoder(AutoencoderConfig(preset="tiny", downsample=4))


@pytest.fixture()
def scenes():
    return {"car/a": views(3, seed=0), "b": views(2, seed=1)}


def files(folder):
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())


def test_latents_are_posterior_means_and_hit_the_second_time(tmp_path, ae, scenes):
    cache = LatentCache(tmp_path)
    first = cache.get_or_compute(ae, scenes, batch_size=2)
    assert (cache.hits, cache.misses) == (0, 2)
    assert list(first) == ["car/a", "b"]
    with torch.no_grad():
        expected = ae.encode(images_to_model(scenes["car/a"]), sample=False)
    assert first["car/a"].shape == (3, 4, 8, 8) and first["car/a"].dtype == torch.float32
    assert torch.allclose(first["car/a"], expected, atol=1e-6)
    again = LatentCache(tmp_path)
    second = again.get_or_compute(ae, iter(scenes.items()))  # an iterable of pairs works too
    assert (again.hits, again.misses) == (2, 0)
    assert all(torch.equal(first[k], second[k]) for k in scenes)
    # one folder per encoder, one file per scene, no temporary files left
    assert [p.suffix for p in files(tmp_path)] == [".safetensors", ".safetensors"]
    assert len({p.parts[0] for p in files(tmp_path)}) == 1


def test_a_changed_encoder_weight_invalidates(tmp_path, ae, scenes):
    cache = LatentCache(tmp_path)
    before = cache.get_or_compute(ae, scenes)
    key = encoder_key(ae)
    with torch.no_grad():
        ae.vae.post_quant_conv.weight.add_(1.0)  # the decoder does not matter
    assert encoder_key(ae) == key
    cache.get_or_compute(ae, scenes)
    assert cache.misses == 2 and cache.hits == 2
    with torch.no_grad():
        ae.vae.encoder.conv_in.weight[0, 0, 0, 0] += 1e-3  # one encoder weight
    assert encoder_key(ae) != key
    after = cache.get_or_compute(ae, scenes)
    assert cache.misses == 4
    assert not torch.equal(before["b"], after["b"])
    assert len({p.parts[0] for p in files(tmp_path)}) == 2


def test_changed_images_or_resolution_miss(tmp_path, ae, scenes):
    cache = LatentCache(tmp_path)
    cache.get_or_compute(ae, scenes)
    changed = scenes["b"].clone()
    changed[0, 0, 0, 0] ^= 1
    cache.get_or_compute(ae, {"b": changed})
    cache.get_or_compute(ae, {"b": scenes["b"][:, :16, :16].contiguous()})
    latents = cache.get_or_compute(ae, {"renamed": scenes["b"]})
    assert (cache.hits, cache.misses) == (0, 5)
    assert latents["renamed"].shape == (2, 4, 8, 8)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "bit flip"])
def test_unreadable_or_damaged_files_are_recomputed(tmp_path, ae, scenes, damage):
    cache = LatentCache(tmp_path)
    good = cache.get_or_compute(ae, scenes)
    path = cache.path(encoder_key(ae), "b", scenes["b"])
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not a safetensors file")
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:  # a readable file with one wrong latent value: only the checksum tells
        path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.warns(UserWarning, match=str(path)):
        again = cache.get_or_compute(ae, scenes)
    assert torch.equal(again["b"], good["b"]) and cache.misses == 3


def test_duplicate_scene_ids_are_refused(tmp_path, ae, scenes):
    with pytest.raises(ValueError, match="twice"):
        LatentCache(tmp_path).get_or_compute(ae, [("b", scenes["b"]), ("b", scenes["b"])])
