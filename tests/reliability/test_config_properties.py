"""Property tests of the config layer (issue 24): a value of the wrong type or out of range in
any field of any experiment's config is a ConfigError, never another exception.

Each example takes a shipped config, picks one field of its dataclass tree (walking
``dataclasses.fields`` and the type hints), and replaces its value with one that does not match
the field's type (``from_dict`` must refuse it), or with a negative count / NaN / inf (``from_dict``
or the validation pass must refuse it).
"""

from __future__ import annotations

import dataclasses
import math
import re
import tempfile
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jaxsbi.experiments.config import ConfigError, from_dict
from jaxsbi.experiments.registry import EXPERIMENTS
from jaxsbi.experiments.validate import check

ROOT = Path(__file__).resolve().parents[2]
# One shipped config per kind (the dMRI family beside PRISM's symbolic one).
CONFIGS = ["two_moons_aalr.toml", "bench.toml", "prml_evidence.toml", "hpo_polynomial.toml",
           "hpo_digits.toml", "prism_k30.toml", "prism_dmri.toml"]
SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def _leaves(cls, prefix=""):
    """(dotted path, type) of every field of a config dataclass tree."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        tp, path = hints[f.name], prefix + f.name
        yield path, tp
        if dataclasses.is_dataclass(tp):
            yield from _leaves(tp, path + ".")


_TEXT = st.text(max_size=6)
_ANY_INT = st.integers(-10**6, 10**6)
_NONE, _BOOL = st.none(), st.booleans()
_FLOAT = st.floats(allow_nan=True, allow_infinity=True)
_LIST = st.lists(_ANY_INT, max_size=3)
_TABLE = st.dictionaries(st.sampled_from(["a", "b"]), _ANY_INT, min_size=1, max_size=2)


def wrong(tp) -> st.SearchStrategy:
    """Values that a field of type ``tp`` must refuse (by type)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:
            inner = wrong(options[0])
            return inner.filter(lambda v: v is not None)
        return st.one_of(_ANY_INT, _NONE, _TABLE, st.lists(_TEXT, min_size=1, max_size=2),
                         _TEXT.filter(lambda s: s not in [a for o in options
                                                          for a in typing.get_args(o)]))
    if origin is typing.Literal:
        return st.one_of(_TEXT.filter(lambda s: s not in args), _ANY_INT, _NONE, _LIST)
    if dataclasses.is_dataclass(tp):
        return st.one_of(_ANY_INT, _TEXT, _LIST, _BOOL)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            bad_items = st.lists(wrong(args[0]), min_size=1, max_size=3)
        else:  # a fixed length: the wrong count, or a wrong item
            bad_items = st.one_of(
                st.lists(_FLOAT.filter(math.isfinite), max_size=5).filter(
                    lambda v: len(v) != len(args)),
                st.tuples(*(wrong(a) for a in args)).map(list),
            )
        return st.one_of(_ANY_INT, _TEXT, _NONE, _TABLE, bad_items)
    if origin in (dict, typing.Mapping):
        return st.one_of(_ANY_INT, _TEXT, _LIST, _BOOL)
    if tp is int:
        return st.one_of(st.floats(), _TEXT, _BOOL, _NONE, _LIST, _TABLE)
    if tp is float:
        return st.one_of(_TEXT, _BOOL, _NONE, _LIST, _TABLE,
                         st.sampled_from([math.nan, math.inf, -math.inf]))
    if tp is str:
        return st.one_of(_ANY_INT, _FLOAT, _BOOL, _NONE, _LIST, _TABLE)
    if tp is bool:
        return st.one_of(_ANY_INT, _FLOAT, _TEXT, _NONE, _LIST, _TABLE)
    raise AssertionError(f"no strategy for {tp}")  # a new field type: teach this test


def out_of_range(tp) -> st.SearchStrategy | None:
    """Values of the right type outside every field's range: negative integers, NaN, inf."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        return out_of_range(options[0]) if len(options) == 1 else None
    if tp is int:
        return st.integers(-10**9, -1)
    if tp is float:
        return st.sampled_from([math.nan, math.inf, -math.inf])
    if origin is tuple and args and args[-1] is Ellipsis:
        item = out_of_range(args[0])
        return None if item is None else st.lists(item, min_size=1, max_size=3)
    return None


def _base(name: str) -> tuple[type, dict]:
    data = tomllib.loads((ROOT / "configs" / name).read_text())
    return EXPERIMENTS[data.pop("experiment")].config, data


def _set(data: dict, dotted: str, value: Any) -> dict:
    import copy

    data = copy.deepcopy(data)
    *parents, leaf = dotted.split(".")
    table = data
    for p in parents:
        table = table.setdefault(p, {})
    table[leaf] = value
    return data


@pytest.mark.parametrize("name", CONFIGS)
@SETTINGS
@given(data=st.data())
def test_a_value_of_the_wrong_type_is_a_config_error(name, data):
    cls, base = _base(name)
    fields = [(p, tp) for p, tp in _leaves(cls) if tp is not Any]
    path, tp = data.draw(st.sampled_from(fields), label="field")
    value = data.draw(wrong(tp), label="value")
    with pytest.raises(ConfigError, match=re.escape(path)):  # the message names the key
        from_dict(cls, _set(base, path, value))


_OUT = tempfile.mkdtemp(prefix="jaxsbi_properties_")


@pytest.mark.parametrize("name", CONFIGS)
@SETTINGS
@given(data=st.data())
def test_a_value_out_of_range_is_a_config_error(name, data, monkeypatch):
    monkeypatch.chdir(ROOT)
    cls, base = _base(name)
    fields = [(p, s) for p, tp in _leaves(cls) if (s := out_of_range(tp)) is not None]
    path, strategy = data.draw(st.sampled_from(fields), label="field")
    value = data.draw(strategy, label="value")
    with pytest.raises(ConfigError):
        config = from_dict(cls, _set(base, path, value))
        check(config, name, _OUT)
