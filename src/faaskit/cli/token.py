"""``faaskit token``: mint a bearer token with the app's signing key."""

from __future__ import annotations

import re
import sys
from typing import Annotated

import typer

__all__ = ["parse_duration", "token"]


def token(
    sub: Annotated[str, typer.Option("--sub", help="The subject (user id)")],
    scope: Annotated[
        str, typer.Option("--scope", help='Space-separated scopes: "users:read users:write"')
    ] = "",
    ttl: Annotated[str, typer.Option(help="Lifetime: 3600, 30m, 1h, 7d")] = "1h",
    app: Annotated[str | None, typer.Option("--app", help="Use this app's JWT settings")] = None,
) -> None:
    """Mint a bearer token with the app's key; prints the token alone."""
    from faaskit.auth import JWTAuth, TokenIssuer
    from faaskit.config import Settings
    from faaskit.loader import load_app
    from faaskit.secrets import Secrets

    config = load_app(app).auth if app else JWTAuth()
    issuer = TokenIssuer(config, Secrets.from_settings(Settings.load()))
    sys.stdout.write(issuer.mint(sub, scope.split(), ttl=parse_duration(ttl)) + "\n")


def parse_duration(text: str) -> int:
    """Seconds in ``3600``, ``90s``, ``30m``, ``1h`` or ``7d``."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text)
    if not match or int(match.group(1)) == 0:
        raise typer.BadParameter(f"{text!r} is not a duration like 3600, 30m, 1h or 7d")
    return int(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
