"""YAML text from plain data (dicts, lists, strings, numbers, booleans), in block style.

faaskit has no YAML library among its dependencies, and a template needs only this much:
mappings and sequences in block style, keys in the order they were inserted, and scalars
that read back as what they were. A string is written plain when YAML would read it back
as the same string, and double-quoted otherwise (JSON's escapes are YAML's), so ``"true"``,
``"1.0"``, ``"*/*"`` or ``'{"faaskit": "sweep"}'`` stay strings.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["dump_yaml"]

# Plain scalars that cannot be mistaken for anything but a string: start with a letter,
# digit, '/', '$' or '.', and hold no character YAML gives a meaning to (': ', ' #', flow
# indicators, quotes, '*' or '&' anchors...).
_PLAIN = re.compile(r"^[A-Za-z0-9/$.(][A-Za-z0-9 _./$(){}:+=@,-]*$")
# Strings YAML 1.1 or 1.2 would resolve to a boolean, null, number or timestamp.
_RESOLVED = re.compile(
    r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF"
    r"|null|Null|NULL|~|[-+]?(?:\d[\d_]*)?(?:\.\d*)?(?:[eE][-+]?\d+)?|0x[0-9a-fA-F_]+"
    r"|0o[0-7_]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)|\d[\d_]*(?::[0-5]?\d)+(?:\.\d*)?"
    r"|\d{4}-\d\d?-\d\d?(?:[Tt ].*)?)$"  # YAML 1.1 timestamps: "2010-09-09" is a date
)


def dump_yaml(data: Mapping[str, Any]) -> str:
    """``data`` as a YAML document (block style, insertion order)::

    >>> print(dump_yaml({"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}}), end="")
    Resources:
      Queue:
        Type: AWS::SQS::Queue
    """
    return "\n".join(_mapping(data, 0)) + "\n"


def _mapping(data: Mapping[str, Any], indent: int) -> list[str]:
    lines: list[str] = []
    pad = " " * indent
    for key, value in data.items():
        label = f"{pad}{_scalar(str(key))}:"
        lines.extend(_entry(label, value, indent))
    return lines


def _sequence(data: Sequence[Any], indent: int) -> list[str]:
    lines: list[str] = []
    pad = " " * indent
    for value in data:
        if isinstance(value, Mapping) and value:
            # the first key shares the dash's line; the others line up under it
            nested = _mapping(value, indent + 2)
            lines.append(f"{pad}- {nested[0].lstrip()}")
            lines.extend(nested[1:])
        else:
            lines.extend(_entry(f"{pad}-", value, indent))
    return lines


def _entry(label: str, value: Any, indent: int) -> list[str]:
    if isinstance(value, Mapping) and value:
        return [label, *_mapping(value, indent + 2)]
    if _is_sequence(value) and value:
        return [label, *_sequence(value, indent + 2)]
    return [f"{label} {_scalar(value)}"]


def _is_sequence(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} has no place in a template")
        return repr(value)
    if isinstance(value, Mapping):
        return "{}"
    if _is_sequence(value):
        return "[]"
    if not isinstance(value, str):
        raise TypeError(f"cannot write a {type(value).__name__} as YAML")
    if _PLAIN.match(value) and not _RESOLVED.match(value) and not _ambiguous(value):
        return value
    return json.dumps(value, ensure_ascii=False)


def _ambiguous(text: str) -> bool:
    """Plain text YAML would still read differently: a trailing space or colon, ': ' or
    ' #' inside, or a flow mapping's braces at the start."""
    return (
        text != text.strip()
        or text.endswith(":")
        or ": " in text
        or " #" in text
        or text.startswith("{")
    )
