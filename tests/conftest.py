"""Shared fixtures: small datasets built once per test session with the pybullet fallback,
and tiny finished runs of every kind on them."""

import pytest

from latentscenes.builders import BuildSettings, build_dataset


@pytest.fixture(scope="session")
def objects_32px(tmp_path_factory):
    """4 pybullet objects x 24 views at 32 px, the first 4 views of each held out."""
    root = tmp_path_factory.mktemp("objects_32px")
    settings = BuildSettings(source="pybullet-objects", scenes=4, views=24, size=32, num_test_views=4, seed=3)
    build_dataset(root, settings, workers=1, progress=False)
    return root


TINY_RUN = [
    "data.num_test_views=4", "render.samples=8", "render.importance_samples=8", "logging.backend=none",
    "logging.progress=false", "eval.every=0", "eval.views=2",
]
TINY_PLANES = ["planes.resolution=16", "planes.channels=8", "planes.micro_channels=4", "planes.num_bases=4"]


@pytest.fixture(scope="session")
def tiny_runs(objects_32px, tmp_path_factory):
    """Finished runs of every kind, a few steps each, for commands that read runs: `rgb` and
    `latent` (stage 2) on the fourth scene, `stage1` on the first three (tiny autoencoder)."""
    from latentscenes.cli.main import main

    root = tmp_path_factory.mktemp("tiny_runs")
    data = str(objects_32px)
    new_scene = ["data.start=3", "data.count=1"]
    assert main(["fit", "--space", "rgb", "--data", data, "--run", str(root / "rgb"), *new_scene, *TINY_PLANES,
                 "fit.steps=4", *TINY_RUN]) == 0
    assert main(["train", "--data", data, "--run", str(root / "stage1"), "data.count=3", "autoencoder.vae=",
                 "autoencoder.preset=tiny", "autoencoder.downsample=4", *TINY_PLANES, "warmup.steps=3", "scenes.steps=3",
                 "scenes.freeze_mlp_last=1", "joint.steps=2", *TINY_RUN]) == 0
    assert main(["fit", "--space", "latent", "--from", str(root / "stage1"), "--data", data, "--run", str(root / "latent"),
                 *new_scene, "encode.steps=3", "decode.steps=2", *TINY_RUN]) == 0
    return root
