"""Declared method settings: one field per setting, validated from its declaration.

A method's settings are class attributes declared with :func:`setting` (or a plain default)
and a type annotation; :class:`hgbench.spec.Method` turns every subclass into a dataclass, so
the declaration is also the constructor's signature, the validation and what is stored with a
run (the *resolved* values, see :meth:`hgbench.spec.Method.settings`)::

    class CosineSGD(Method):
        key = "cosine_sgd"
        period: int = setting(100, low=1, doc="steps of one cosine cycle")
        floor: float = setting(0.0, low=0.0, doc="lowest lr, as a fraction of the initial lr")

Checks made for every field, with an error naming the method and the setting: the annotated
type (``bool`` only accepts booleans; ``float`` accepts ints; ``tuple[...]`` accepts any
sequence and stores a tuple; ``X | None`` accepts None), ``choices``, and the bounds ``low`` /
``high`` (closed unless ``low_open`` / ``high_open``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from collections.abc import Sequence
from typing import Any

#: metadata key under which a field's checks are kept
_KEY = "hgbench"


def setting(
    default: Any,
    *,
    doc: str = "",
    choices: Sequence[Any] | None = None,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> Any:
    """A declared setting with its default and checks (a ``dataclasses.field``)."""
    if isinstance(default, list | dict | set):
        raise TypeError("a setting's default must be immutable (use a tuple)")
    meta = {"doc": doc, "choices": tuple(choices) if choices is not None else None,
            "low": low, "high": high, "low_open": low_open, "high_open": high_open}  # fmt: skip
    return dataclasses.field(default=default, metadata={_KEY: meta})


class SettingError(ValueError):
    """An invalid method setting; the message names the method and the setting."""


def _allows_none(tp: Any) -> bool:
    return tp is type(None) or (
        typing.get_origin(tp) in (typing.Union, types.UnionType)
        and type(None) in typing.get_args(tp)
    )


def _base_type(tp: Any) -> Any:
    """The annotation without ``| None``."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else typing.Union[tuple(args)]  # noqa: UP007
    return tp


def _coerce(owner: str, name: str, value: Any, tp: Any) -> Any:
    """``value`` checked against annotation ``tp`` (and normalised: ints to float, lists to
    tuples); a :class:`SettingError` otherwise."""
    where = f"{owner}: setting {name!r}"
    if value is None:
        if _allows_none(tp) or tp is Any:
            return None
        raise SettingError(f"{where} must not be None")
    tp = _base_type(tp)
    origin = typing.get_origin(tp)
    if tp is Any or tp is object:
        return value
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(tp):
            try:
                return _coerce(owner, name, value, option)
            except SettingError:
                continue
        raise SettingError(f"{where} must be one of {tp}, got {value!r}")
    if tp is bool:
        if not isinstance(value, bool):
            raise SettingError(f"{where} must be True or False, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingError(f"{where} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SettingError(f"{where} must be a number, got {value!r}")
        if not math.isfinite(float(value)):
            raise SettingError(f"{where} must be finite, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise SettingError(f"{where} must be a string, got {value!r}")
        return value
    if origin is tuple:
        if isinstance(value, str | bytes) or not isinstance(value, Sequence):
            raise SettingError(f"{where} must be a sequence, got {value!r}")
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            kinds = [args[0]] * len(value)
        else:
            kinds = list(args)
            if len(kinds) != len(value):
                raise SettingError(f"{where} must have {len(kinds)} entries, got {value!r}")
        return tuple(_coerce(owner, name, v, k) for v, k in zip(value, kinds, strict=True))
    if isinstance(tp, type) and not isinstance(value, tp):
        raise SettingError(f"{where} must be a {tp.__name__}, got {value!r}")
    return value


def _check_bounds(owner: str, name: str, value: Any, meta: dict[str, Any]) -> None:
    where = f"{owner}: setting {name!r}"
    if meta["choices"] is not None and value not in meta["choices"]:
        valid = ", ".join(map(repr, meta["choices"]))
        raise SettingError(f"{where} must be one of {valid}, got {value!r}")
    values = value if isinstance(value, tuple) else (value,)
    for v in values:
        if not isinstance(v, int | float) or isinstance(v, bool):
            continue
        lo, hi = meta["low"], meta["high"]
        if lo is not None and (v < lo or (meta["low_open"] and v == lo)):
            raise SettingError(
                f"{where} must be {'>' if meta['low_open'] else '>='} {lo}, got {value!r}"
            )
        if hi is not None and (v > hi or (meta["high_open"] and v == hi)):
            raise SettingError(
                f"{where} must be {'<' if meta['high_open'] else '<='} {hi}, got {value!r}"
            )


def check_fields(obj: Any, owner: str) -> None:
    """Validate and normalise every dataclass field of ``obj`` in place."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = _coerce(owner, f.name, getattr(obj, f.name), hints.get(f.name, Any))
        meta = f.metadata.get(_KEY)
        if meta is not None and value is not None:
            _check_bounds(owner, f.name, value, meta)
        object.__setattr__(obj, f.name, value)


def reject_unknown(cls: type, init: Any) -> Any:
    """``init`` that first rejects keyword arguments that are not declared settings."""
    names = [f.name for f in dataclasses.fields(cls)]

    @functools.wraps(init)
    def checked_init(self: Any, *args: Any, **kwargs: Any) -> None:
        unknown = sorted(set(kwargs) - set(names))
        if unknown or args:
            owner = getattr(cls, "key", cls.__name__)
            what = (
                f"unknown setting(s) {', '.join(map(repr, unknown))}"
                if unknown
                else ("settings are keyword arguments")
            )
            raise SettingError(f"{owner}: {what}; valid settings: {', '.join(names) or 'none'}")
        init(self, **kwargs)

    return checked_init


def declared(cls: type) -> dict[str, Any]:
    """``name -> default`` of every declared setting of a method class (in order)."""
    if not dataclasses.is_dataclass(cls):
        return {}
    return {f.name: f.default for f in dataclasses.fields(cls)}


def documented(cls: type) -> dict[str, str]:
    """``name -> doc`` of every declared setting that has one."""
    if not dataclasses.is_dataclass(cls):
        return {}
    return {f.name: f.metadata[_KEY]["doc"] for f in dataclasses.fields(cls)
            if _KEY in f.metadata and f.metadata[_KEY]["doc"]}  # fmt: skip


def jsonable(value: Any) -> Any:
    """Tuples as lists, recursively (what a setting looks like in JSON)."""
    if isinstance(value, tuple | list):
        return [jsonable(v) for v in value]
    return value
