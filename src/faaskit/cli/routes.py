"""``faaskit routes`` and ``faaskit openapi``: an app's HTTP functions, as a table or as
its OpenAPI document."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from faaskit.cli.app import AppArg, JsonOpt
from faaskit.cli.output import console, print_json

if TYPE_CHECKING:
    from faaskit.app import Route

__all__ = ["openapi", "routes"]


def routes(app: AppArg, json: JsonOpt = False) -> None:
    """List APP's HTTP functions."""
    from faaskit.loader import load_app

    loaded = load_app(app)
    if json:
        print_json([route_record(route) for route in loaded.routes])
        return
    from rich.table import Table

    table = Table(title=f"{loaded.title} — {len(loaded.routes)} functions")
    for column in ("Method", "Path", "Function", "Status", "Auth"):
        table.add_column(column)
    for route in loaded.routes:
        auth = "public" if route.scopes is None else (" ".join(route.scopes) or "any token")
        table.add_row(route.method, route.path, route.name, str(route.status), auth)
    console(soft_wrap=False).print(table)


def route_record(route: Route) -> dict[str, Any]:
    """One HTTP function for ``--json``: ``auth`` is ``public`` or ``token``; a token
    must carry every one of ``scopes`` (none: any valid token)."""
    return {
        "method": route.method,
        "path": route.path,
        "name": route.name,
        "status": route.status,
        "auth": "public" if route.scopes is None else "token",
        "scopes": list(route.scopes or ()),
        "summary": route.summary,
        "tags": list(route.tags),
    }


def openapi(app: AppArg) -> None:
    """Print APP's OpenAPI 3.1 document."""
    from faaskit.http.binding import build_endpoint
    from faaskit.http.openapi import openapi_document
    from faaskit.http.paths import compile_path
    from faaskit.loader import load_app

    loaded = load_app(app)
    endpoints = [build_endpoint(r, compile_path(r.path)[1]) for r in loaded.routes]
    print_json(openapi_document(loaded, endpoints))
