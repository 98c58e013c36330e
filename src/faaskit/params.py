"""Markers for handler parameters, used with ``typing.Annotated``::

    async def search(q: Annotated[str, Query(description="text")] = "") -> ...
    async def register(email: Annotated[str, Body()], name: Annotated[str, Body()]) -> ...

Without a marker, a parameter named in the path is a path parameter, a pydantic model is
the JSON body, a ``Context`` is the context, and anything else is a query parameter.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Body", "Query"]


@dataclass(frozen=True)
class Query:
    """A query-string parameter; ``alias`` when its name in the URL differs (``from``)."""

    alias: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Body:
    """One field of the JSON body object; the handler's Body fields form the body's schema."""

    alias: str | None = None
    description: str | None = None
