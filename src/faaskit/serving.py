"""Serving an app with uvicorn, shared by ``faaskit dev`` and ``faaskit demo``.

uvicorn's reloader re-imports the app in a child process, so the app reference and the
settings travel in environment variables to :func:`asgi_from_environment`.
"""

from __future__ import annotations

import errno
import os
import socket
from typing import Any

from faaskit.errors import ConfigurationError

__all__ = ["asgi_from_environment", "check_port_free"]

APP_VARIABLE = "FAASKIT_APP"


def asgi_from_environment() -> Any:
    """uvicorn factory: the ASGI app for ``$FAASKIT_APP`` with settings from the environment."""
    from faaskit.config import Settings
    from faaskit.http.gateway import create_asgi_app
    from faaskit.loader import load_app
    from faaskit.observability.logging import configure_logging
    from faaskit.runtime.runtime import Runtime

    settings = Settings.load()
    configure_logging(settings.log_level)
    app = load_app(os.environ[APP_VARIABLE])
    return create_asgi_app(app, Runtime(app, settings))


def check_port_free(host: str, port: int) -> None:
    """ConfigurationError with one clear line when ``host:port`` cannot be bound."""
    if not 0 < port < 65536:
        raise ConfigurationError(f"port {port} is out of range (1-65535)")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise ConfigurationError(
                    f"port {port} on {host} is already in use; pass --port to pick another"
                ) from None
            raise ConfigurationError(f"cannot listen on {host}:{port}: {error.strerror}") from None
