"""The gateway's route table: from a request's path to the endpoints serving it.

Paths without parameters are found in one dict lookup; the others are tried in the order
the app declared them. With percent escapes the raw path is split into segments before
each is decoded, so ``/files/a%2Fb`` is one parameter ``a/b``, never two segments.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from faaskit.app import Route
from faaskit.http.binding import Endpoint, build_endpoint
from faaskit.http.paths import compile_path

if TYPE_CHECKING:
    from faaskit.resources import ResourceSpec

__all__ = ["PathGroup", "RouteTable"]

# Stands for an encoded slash (%2F) inside one segment while a path is matched, so it
# never separates segments; a noncharacter, which no route template contains.
_ENCODED_SLASH = "\uffff"


class PathGroup:
    """The endpoints sharing one path template, by method."""

    __slots__ = ("convertors", "methods", "regex")

    def __init__(self, path: str) -> None:
        self.regex, self.convertors = compile_path(path)
        self.methods: dict[str, Endpoint] = {}

    @property
    def allow(self) -> bytes:
        """The ``Allow`` header of this path (HEAD with GET, OPTIONS always)."""
        methods = set(self.methods) | {"OPTIONS"} | ({"HEAD"} if "GET" in self.methods else set())
        return ", ".join(sorted(methods)).encode()


class RouteTable:
    """Every route's endpoint (built now: a signature faaskit cannot serve fails here),
    grouped by path."""

    def __init__(
        self, routes: list[Route], resources: Mapping[str, ResourceSpec] | None = None
    ) -> None:
        self.endpoints: list[Endpoint] = []
        self._static: dict[str, PathGroup] = {}
        self._dynamic: list[PathGroup] = []
        groups: dict[str, PathGroup] = {}
        for route in routes:
            group = groups.get(route.path)
            if group is None:
                group = groups[route.path] = PathGroup(route.path)
                if group.convertors:
                    self._dynamic.append(group)
                else:
                    self._static[route.path] = group
            endpoint = build_endpoint(route, group.convertors, resources)
            group.methods[route.method] = endpoint
            self.endpoints.append(endpoint)

    def match(self, path: str, raw_path: str | None) -> tuple[PathGroup | None, dict[str, Any]]:
        """The group whose template matches, and the converted path parameters; (None,
        {}) when none does. ``raw_path``: the path as sent, when it may hold escapes."""
        encoded = raw_path is not None and "%" in raw_path
        if encoded:
            assert raw_path is not None
            raw = raw_path.partition("?")[0]
            path = "/".join(unquote(part).replace("/", _ENCODED_SLASH) for part in raw.split("/"))
        group = self._static.get(path)
        if group is not None:
            return group, {}
        for group in self._dynamic:
            match = group.regex.match(path)
            if match is not None:
                convertors = group.convertors
                params = {
                    key: convertors[key].convert(
                        value.replace(_ENCODED_SLASH, "/") if encoded else value
                    )
                    for key, value in match.groupdict().items()
                }
                return group, params
        return None, {}
