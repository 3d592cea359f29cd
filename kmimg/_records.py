"""``@frozen``: a frozen dataclass whose ``__eq__``, ``__hash__``, ``__repr__`` and frozen
guards are shared functions instead of code generated per class.

Why not plain ``@dataclass(frozen=True)``: the decorator writes and compiles six methods for
every class (``__init__``, ``__repr__``, ``__eq__``, ``__hash__``, ``__setattr__``,
``__delattr__``), about a millisecond a class on Python 3.11, and ``kmimg quantize`` defines
26 of them before its first pixel: ~30 ms of a ~0.45 s process (2026-12-03, issue 11). Only
``__init__`` needs code of its own; the other five are written once here and behave as the
generated ones:

- equality compares the fields with ``compare=True`` when both objects are of the same class
  (``NotImplemented`` otherwise);
- the hash is that of the fields with ``hash=None`` and ``compare=True``, or ``hash=True``;
- the repr is ``Name(field=value, ...)`` over the fields with ``repr=True``;
- assigning or deleting an attribute raises :class:`dataclasses.FrozenInstanceError`. The
  generated ``__init__`` (of a non-frozen dataclass) assigns each field once, so the guard lets
  a field be set while it has no value yet and refuses everything else: after ``__init__`` the
  object is as immutable as a frozen dataclass. (Every field of these classes is an
  ``__init__`` argument; ``field(init=False)`` is refused.)

Construction, ``dataclasses.replace``, ``fields``, copying and pickling are the dataclass's own.
Type checkers see a frozen dataclass (``dataclass_transform(frozen_default=True)``). A class
that defines one of the five methods itself keeps its own.
"""

from __future__ import annotations

import dataclasses
import reprlib
import sys
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING or sys.version_info >= (3, 11):
    from typing import dataclass_transform
else:  # Python 3.10: the marker is for type checkers only

    def dataclass_transform(**_: Any) -> Any:
        return lambda decorated: decorated


T = TypeVar("T", bound=type)

_NAMES: dict[tuple[type, str], tuple[str, ...]] = {}


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, dataclasses.Field))
def frozen(cls: T) -> T:
    """``@dataclass(frozen=True)``, with the shared methods of this module."""
    dataclasses.dataclass(eq=False, repr=False)(cls)  # no slots: the same class back
    if any(not f.init for f in dataclasses.fields(cls)):
        raise TypeError(f"{cls.__name__}: every field of a frozen record is an __init__ argument")
    for name, method in _SHARED:
        if name not in cls.__dict__:
            setattr(cls, name, method)
    if cls.__dict__.get("__setattr__") is _setattr:
        # The guard runs for every field of every record built (~90 per file of a batch):
        # the class's own copy with its field names at hand is half the time of _setattr.
        cls.__setattr__ = _guard(frozenset(_names(cls, "init")))  # type: ignore[method-assign]
    return cls


def _names(cls: type, kind: str) -> tuple[str, ...]:
    """The names of ``cls``'s fields that take part in ``kind`` (compare, hash or repr)."""
    key = (cls, kind)
    names = _NAMES.get(key)
    if names is None:
        names = _NAMES[key] = tuple(f.name for f in dataclasses.fields(cls) if _takes_part(f, kind))
    return names


def _takes_part(f: dataclasses.Field[Any], kind: str) -> bool:
    if kind == "hash":
        return bool(f.compare if f.hash is None else f.hash)
    return bool(getattr(f, kind))


def _values(obj: object, names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(getattr(obj, name) for name in names)


def _eq(self: object, other: object) -> object:  # a bool, or NotImplemented
    if other.__class__ is not self.__class__:
        return NotImplemented
    names = _names(self.__class__, "compare")
    return bool(_values(self, names) == _values(other, names))


def _hash(self: object) -> int:
    return hash(_values(self, _names(self.__class__, "hash")))


@reprlib.recursive_repr()
def _repr(self: object) -> str:
    fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in _names(self.__class__, "repr"))
    return f"{self.__class__.__qualname__}({fields})"


def _setattr(self: object, name: str, value: object) -> None:
    if name in self.__dict__ or name not in _names(self.__class__, "init"):
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
    object.__setattr__(self, name, value)


def _guard(names: frozenset[str]) -> Any:
    """:func:`_setattr` for a class whose ``__init__`` fields are ``names``."""
    set_value = object.__setattr__

    def __setattr__(self: object, name: str, value: object) -> None:
        if name in names and name not in self.__dict__:
            set_value(self, name, value)
        else:  # refused, or a field of a subclass that is not a record of its own
            _setattr(self, name, value)

    return __setattr__


def _delattr(self: object, name: str) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


_SHARED = (
    ("__eq__", _eq),
    ("__hash__", _hash),
    ("__repr__", _repr),
    ("__setattr__", _setattr),
    ("__delattr__", _delattr),
)
