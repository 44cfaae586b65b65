"""Typed configuration: dataclasses loaded from YAML, overridden by `key=value`, validated.

A config is a plain `@dataclass` whose fields are declared with `option(...)`, which
records a help text and the allowed range. Nested dataclasses become nested YAML
mappings and dotted override keys (`render.samples=32`). Every error names the key:

    >>> load_config(FitConfig, overrides=["render.samples=-1"])
    ConfigError: config key 'render.samples' must be >= 1, got -1
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import yaml

from latentscenes.errors import ConfigError
from latentscenes.io import atomic_write_text

T = TypeVar("T")


def option(
    default: Any = dataclasses.MISSING,
    help: str = "",
    *,
    min: float | None = None,
    max: float | None = None,
    default_factory: Any = dataclasses.MISSING,
) -> Any:
    """A dataclass field with a help text and an optional inclusive range [min, max]."""
    metadata = {"help": help, "min": min, "max": max}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    if isinstance(default, (list, dict, set)) or dataclasses.is_dataclass(default):
        value = default
        return dataclasses.field(default_factory=lambda: copy.deepcopy(value), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def load_config(
    cls: type[T], path: str | Path | None = None, overrides: list[str] = (), base: dict[str, Any] | None = None
) -> T:
    """Build `cls` from its defaults, then the nested values `base` (a named recipe), then the
    YAML file at `path`, then `key=value` overrides."""
    values = merged(base or {}, _read_yaml(Path(path)) if path is not None else {})
    for item in overrides:
        key, value = _parse_override(item)
        _set_dotted(values, key, value)
    return _build(cls, values, prefix="")


def merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Nested config values `base` with `changes` applied section by section (neither is modified)."""
    result = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def to_dict(config: Any) -> dict[str, Any]:
    """A config as plain nested dicts, lists and scalars (YAML- and JSON-safe)."""
    return _plain(dataclasses.asdict(config))


def save_config(config: Any, path: str | Path) -> None:
    atomic_write_text(path, config_text(config))


def config_text(config: Any) -> str:
    """The YAML `save_config` writes."""
    return yaml.safe_dump(to_dict(config), sort_keys=False)


def describe(cls: type, prefix: str = "", instance: Any = None) -> list[tuple[str, str, str]]:
    """(dotted key, default, help) for every leaf field of `cls`, for `--help` listings."""
    rows = []
    instance = cls() if instance is None else instance
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        key = f"{prefix}{field.name}"
        if dataclasses.is_dataclass(hints[field.name]):
            rows.extend(describe(hints[field.name], f"{key}.", getattr(instance, field.name)))
        else:
            rows.append((key, repr(getattr(instance, field.name)), field.metadata.get("help", "")))
    return rows


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {path} is not valid YAML: {error}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys to values")
    return data


def _parse_override(item: str) -> tuple[str, Any]:
    key, sep, text = item.partition("=")
    if not sep or not key:
        raise ConfigError(f"override '{item}' must look like key=value")
    try:
        value = yaml.safe_load(text) if text else ""
    except yaml.YAMLError:
        value = text
    return key.strip(), value


def _set_dotted(values: dict[str, Any], key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    node = values
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"config key '{key}': '{part}' is not a section")
        node = child
    node[leaf] = value


def _build(cls: type[T], values: dict[str, Any], prefix: str, base: T | None = None) -> T:
    """`base` (default: `cls()`) with `values` applied; nested sections start from `base`'s."""
    base = cls() if base is None else base
    if not isinstance(values, dict):
        raise ConfigError(f"config key '{prefix.rstrip('.')}' must be a section (a mapping)")
    hints = typing.get_type_hints(cls)
    fields = {field.name: field for field in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown config key '{prefix}{unknown[0]}'; known keys here: {', '.join(fields)}"
        )
    kwargs = {}
    for name, value in values.items():
        key = f"{prefix}{name}"
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            kwargs[name] = _build(kind, value or {}, f"{key}.", getattr(base, name))
            continue
        value = _coerce(key, kind, value)
        _check_range(key, fields[name].metadata, value)
        kwargs[name] = value
    try:
        return dataclasses.replace(base, **kwargs)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"config section '{prefix.rstrip('.') or cls.__name__}': {error}") from None


def _coerce(key: str, kind: Any, value: Any) -> Any:
    origin, args = get_origin(kind), get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(key, arg, value)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0])
    if origin is Literal:
        if value not in args:
            choices = ", ".join(repr(a) for a in args)
            raise ConfigError(f"config key '{key}' must be one of {choices}, got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key '{key}' must be a list, got {value!r}")
        item_kind = args[0] if args else Any
        items = [_coerce(f"{key}[{i}]", item_kind, item) for i, item in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if kind is Any:
        return value
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config key '{key}' must be true or false, got {value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config key '{key}' must be an integer, got {value!r}")
        return value
    if kind is float:
        value = _yaml11_float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config key '{key}' must be a number, got {value!r}")
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(f"config key '{key}' must be finite, got {value!r}")
        return float(value)
    if kind is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"config key '{key}' must be a string, got {value!r}")
        return str(value)
    raise ConfigError(f"config key '{key}' has an unsupported type {kind}")


def _yaml11_float(value: Any) -> Any:
    """YAML 1.1 reads `1e-4` (no dot) as a string; accept it as the number it means."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _check_range(key: str, metadata: Any, value: Any) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    low, high = metadata.get("min"), metadata.get("max")
    if low is not None and value < low:
        raise ConfigError(f"config key '{key}' must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ConfigError(f"config key '{key}' must be <= {high}, got {value}")


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value
