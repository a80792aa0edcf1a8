"""Experiment files mapped 1:1 onto frozen dataclasses, strictly.

A config file is TOML. Its top-level ``experiment`` key names the kind of experiment
(``"aalr"``, ``"evidence"``, ...), and :mod:`jaxsbi.experiments.registry` maps each kind onto the
frozen dataclass its tables fill. Every key must be a field, every field without a default must
be given, and every value must have the field's type; anything else is a
:class:`ConfigError` naming the offending key path.

Example:
    >>> import dataclasses
    >>> @dataclasses.dataclass(frozen=True)
    ... class Train:
    ...     steps: int = 10
    >>> from_dict(Train, {"steps": 3})
    Train(steps=3)
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["ConfigError", "from_dict", "to_dict", "read_toml"]


class ConfigError(ValueError):
    """A config file does not match the dataclass it maps onto."""


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:  # Optional[X]: X's own message is the clearest
            return _convert(options[0], value, path)
        for a in options:
            try:
                return _convert(a, value, path)
            except ConfigError:
                pass
        raise ConfigError(f"{path}: {value!r} matches none of {_type_name(tp)}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{path}: {value!r} is not one of {list(args)}")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a table for {tp.__name__}, got {value!r}")
        return from_dict(tp, value, path)
    if origin in (tuple,):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{path}: expected a list, got {type(value).__name__} {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{path}[{i}]") for i, v in enumerate(value))
        if args and len(args) != len(value):
            raise ConfigError(f"{path}: expected {len(args)} values, got {len(value)}")
        return tuple(
            _convert(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))
        )
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a table, got {value!r}")
        return {k: _convert(args[1], v, f"{path}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{path}: expected a number, got {type(value).__name__} {value!r}")
        if not math.isfinite(value):  # TOML's nan / inf: never a setting
            raise ConfigError(f"{path}: expected a finite number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {type(value).__name__} {value!r}")
        return value
    if tp in (str, bool):
        if not isinstance(value, tp):
            raise ConfigError(
                f"{path}: expected {tp.__name__}, got {type(value).__name__} {value!r}"
            )
        return value
    raise ConfigError(f"{path}: unsupported field type {_type_name(tp)}")  # pragma: no cover


def from_dict(cls: type[T], data: Mapping[str, Any], path: str = "") -> T:
    """Build the frozen dataclass ``cls`` from a mapping, strictly.

    Raises:
        ConfigError: on an unknown key, a missing required value or a value of the wrong type;
            the message names the key path (e.g. ``train.batch_size``).
    """
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    prefix = f"{path}." if path else ""
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown config key(s) {[prefix + k for k in unknown]}; "
            f"{cls.__name__} accepts {sorted(fields)}"
        )
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], prefix + name)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing required config value {prefix + name!r} ({cls.__name__})")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as e:
        raise ConfigError(_keyed(path or cls.__name__, str(e))) from e


def _keyed(path: str, message: str) -> str:
    """``path: message``, unless the message already names the key from the table down
    (``network.hidden: ...`` raised by the dataclass at ``path`` = ``network`` or
    ``overrides.slcp.network``): then its leading table name becomes the whole path."""
    table = path.rsplit(".", 1)[-1]
    if message.startswith(table + "."):
        return path + message[len(table):]
    return f"{path}: {message}"


def to_dict(obj: Any) -> Any:
    """The inverse of :func:`from_dict` (tuples become lists), for writing run folders."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple | list):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def read_toml(path: str | Path) -> dict:
    """The tables of a TOML file, or a :class:`ConfigError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from e
