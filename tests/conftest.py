"""Shared fixtures: small datasets built once per test session with the pybullet fallback."""

import pytest

from latentscenes.builders import BuildSettings, build_dataset


@pytest.fixture(scope="session")
def objects_32px(tmp_path_factory):
    """4 pybullet objects x 24 views at 32 px, the first 4 views of each held out."""
    root = tmp_path_factory.mktemp("objects_32px")
    settings = BuildSettings(source="pybullet-objects", scenes=4, views=24, size=32, num_test_views=4, seed=3)
    build_dataset(root, settings, workers=1, progress=False)
    return root
