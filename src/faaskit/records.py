"""Immutable value classes written out by hand rather than made by ``dataclasses``.

``import dataclasses`` brings inspect, ast, dis and tokenize (~8 ms of every cold start),
and a frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``
anyway. A :class:`Frozen` subclass lists its fields in ``__slots__``, in the order of its
``__init__`` parameters, and sets them with :func:`setfield`::

    class Point(Frozen):
        __slots__ = ("x", "y")

        def __init__(self, x: int, y: int = 0) -> None:
            setfield(self, "x", x)
            setfield(self, "y", y)
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing itself imports re: the annotations stay strings
if TYPE_CHECKING:
    from typing import Any, Self

__all__ = ["Frozen", "Value", "setfield"]

setfield = object.__setattr__
"""Set a field of a :class:`Frozen` instance (in its ``__init__`` only)."""


class Value:
    """What a dataclass gives, for slotted classes that list their fields in ``__slots__``
    in the order of their ``__init__`` parameters: equality with an instance of the same
    class whose fields are equal, a hash of the fields, a ``Name(field=value, ...)`` repr
    and pattern matching by position. Fields are assigned in ``__init__`` only."""

    __slots__: tuple[str, ...] = ()
    __match_args__: tuple[str, ...] = ()

    def _values(self) -> tuple[Any, ...]:
        return tuple([getattr(self, name) for name in self.__slots__])

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return self._values() == other._values()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__qualname__}({fields})"

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        cls.__match_args__ = tuple(cls.__slots__)  # type: ignore[misc]


class Frozen(Value):
    """A :class:`Value` as a frozen dataclass is one: assigning to a field is an
    AttributeError (:func:`setfield` in ``__init__``), and it copies and pickles;
    ``__replace__(**changes)`` is a copy with some fields changed (``copy.replace``)."""

    __slots__ = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), self._values()

    def __replace__(self, **changes: Any) -> Self:
        values = dict(zip(self.__slots__, self._values(), strict=True))
        return type(self)(**{**values, **changes})
