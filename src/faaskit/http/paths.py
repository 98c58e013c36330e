"""Route paths compiled for matching: ``/users/{user_id}``, ``/files/{name:path}``.

The placeholders and their convertors (``str``, ``int``, ``float``, ``uuid``, ``path``) are
Starlette's, with its rules, so a path means what it means there; only the compiling is
here, because ``starlette.routing`` imports Starlette's whole request and response stack
(25-50 ms of a cold start) for what is a dozen lines.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.convertors import CONVERTOR_TYPES, Convertor

from faaskit.errors import ConfigurationError

__all__ = ["compile_path"]

_PARAM = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(:[a-zA-Z_][a-zA-Z0-9_]*)?}")


def compile_path(path: str) -> tuple[re.Pattern[str], dict[str, Convertor[Any]]]:
    """The regex matching ``path`` (a named group per parameter) and each parameter's
    convertor; ConfigurationError for an unknown convertor or a repeated name."""
    pattern = "^"
    convertors: dict[str, Convertor[Any]] = {}
    end = 0
    for match in _PARAM.finditer(path):
        name, kind = match.group(1), (match.group(2) or ":str")[1:]
        convertor = CONVERTOR_TYPES.get(kind)
        if convertor is None:
            known = ", ".join(sorted(CONVERTOR_TYPES))
            raise ConfigurationError(f"route {path!r}: unknown path convertor {kind!r} ({known})")
        if name in convertors:
            raise ConfigurationError(f"route {path!r}: the parameter {name!r} appears twice")
        pattern += re.escape(path[end : match.start()]) + f"(?P<{name}>{convertor.regex})"
        convertors[name] = convertor
        end = match.end()
    return re.compile(pattern + re.escape(path[end:]) + "$"), convertors
