from dataclasses import dataclass
from typing import Literal

import pytest

from latentscenes.config import describe, load_config, option, save_config
from latentscenes.errors import ConfigError


@dataclass
class Inner:
    samples: int = option(48, "samples per ray", min=1)
    near: float = option(0.5, "near plane", min=0.0)


@dataclass
class Outer:
    name: str = option("run", "a name")
    lr: float = option(1e-2, "learning rate", min=0.0, max=1.0)
    space: Literal["latent", "rgb"] = option("latent", "where scenes are learned")
    size: int | None = option(None, "resolution", min=8)
    use_tv: bool = option(True, "total variation")
    channels: tuple[int, ...] = option((32, 64), "widths")
    render: Inner = option(Inner(), "renderer")


def test_defaults_yaml_and_overrides_merge(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("lr: 0.001\nrender:\n  samples: 16\n")
    config = load_config(Outer, path, ["render.near=0.25", "space=rgb", "size=64", "channels=[1, 2, 3]"])
    assert config.lr == 0.001
    assert config.render.samples == 16
    assert config.render.near == 0.25
    assert config.space == "rgb"
    assert config.size == 64
    assert config.channels == (1, 2, 3)
    assert config.name == "run"


def test_int_is_accepted_for_float_and_stays_float():
    assert load_config(Outer, overrides=["lr=1e-4"]).lr == 1e-4
    config = load_config(Outer, overrides=["lr=1"])
    assert config.lr == 1.0 and isinstance(config.lr, float)


def test_defaults_are_not_shared_between_instances():
    first, second = Outer(), Outer()
    first.render.samples = 3
    assert second.render.samples == 48


@pytest.mark.parametrize(
    "override, key",
    [
        ("lr=abc", "lr"),
        ("lr=2.0", "lr"),
        ("lr=-1", "lr"),
        ("render.samples=0", "render.samples"),
        ("render.samples=1.5", "render.samples"),
        ("render.bogus=1", "render.bogus"),
        ("bogus=1", "bogus"),
        ("space=voxels", "space"),
        ("use_tv=maybe", "use_tv"),
        ("size=4", "size"),
        ("lr=.nan", "lr"),
        ("lr=1e-x", "lr"),
    ],
)
def test_bad_values_name_the_key(override, key):
    with pytest.raises(ConfigError, match=f"'{key}'"):
        load_config(Outer, overrides=[override])


def test_bad_files_and_override_syntax(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(Outer, tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("lr: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(Outer, bad)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(Outer, listing)
    with pytest.raises(ConfigError, match="key=value"):
        load_config(Outer, overrides=["lr"])


def test_save_and_reload_round_trip(tmp_path):
    config = load_config(Outer, overrides=["render.samples=7", "size=32", "space=rgb"])
    save_config(config, tmp_path / "config.yaml")
    assert load_config(Outer, tmp_path / "config.yaml") == config


def test_describe_lists_nested_keys_with_help():
    rows = {key: (default, text) for key, default, text in describe(Outer)}
    assert rows["render.samples"] == ("48", "samples per ray")
    assert "lr" in rows and "channels" in rows


@dataclass
class WithSectionDefault:
    render: Inner = option(Inner(samples=7), "a section whose default differs from Inner()")


def test_overriding_one_key_keeps_the_sections_other_defaults():
    config = load_config(WithSectionDefault, overrides=["render.near=0.1"])
    assert config.render.samples == 7 and config.render.near == 0.1
