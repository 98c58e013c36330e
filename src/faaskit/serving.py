"""Serving an app with uvicorn, shared by ``faaskit dev`` and ``faaskit demo``.

uvicorn's reloader re-imports the app in a child process, so the app reference and the
settings travel in environment variables to :func:`asgi_from_environment`.

Every server faaskit starts is configured by :func:`uvicorn_config`: request heads are
limited (``FAASKIT_MAX_HEADER_BYTES``, ``FAASKIT_MAX_HEADERS``; see :class:`HeaderLimits`)
and answers carry no ``server`` banner.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from faaskit.errors import ConfigurationError

if TYPE_CHECKING:
    import uvicorn

__all__ = [
    "HeaderLimits",
    "asgi_from_environment",
    "check_port_free",
    "run_server",
    "uvicorn_config",
]

APP_VARIABLE = "FAASKIT_APP"
MAX_HEADER_BYTES_VARIABLE = "FAASKIT_MAX_HEADER_BYTES"
MAX_HEADERS_VARIABLE = "FAASKIT_MAX_HEADERS"


@dataclass(frozen=True)
class HeaderLimits:
    """How much request head the server reads before it answers 431 and closes.

    ``max_bytes`` bounds the request target and header lines of one request (32 KiB, room
    for large cookies and tokens); ``max_count`` bounds its header fields (100).

    Example::

        HeaderLimits.from_environment({"FAASKIT_MAX_HEADER_BYTES": "65536"})
    """

    max_bytes: int = 32 * 1024
    max_count: int = 100

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> HeaderLimits:
        """The limits from ``FAASKIT_MAX_HEADER_BYTES`` and ``FAASKIT_MAX_HEADERS``, else the
        defaults; ConfigurationError for a value that is not a positive integer."""
        environ = os.environ if environ is None else environ
        return cls(
            max_bytes=_positive(environ, MAX_HEADER_BYTES_VARIABLE, cls.max_bytes),
            max_count=_positive(environ, MAX_HEADERS_VARIABLE, cls.max_count),
        )


def _positive(environ: Mapping[str, str], name: str, default: int) -> int:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigurationError(f"{name} must be a positive integer, not {text!r}")
    return value


def uvicorn_config(
    app: Any,
    *,
    host: str,
    port: int,
    reload: bool = False,
    log_level: str = "warning",
    limits: HeaderLimits | None = None,
    **options: Any,
) -> uvicorn.Config:
    """The uvicorn configuration of every server faaskit starts.

    ``app`` is an ASGI app or an import string (with ``factory=True``, a factory's); the
    request-head ``limits`` default to :meth:`HeaderLimits.from_environment`; ``options``
    are further ``uvicorn.Config`` arguments. Run it with :func:`run_server` (which honours
    ``reload``) or ``uvicorn.Server(config).serve()``.

    Example::

        config = uvicorn_config(asgi, host="127.0.0.1", port=8000, lifespan="on")
        asyncio.run(uvicorn.Server(config).serve())
    """
    import functools
    import importlib.util

    import uvicorn

    limits = limits or HeaderLimits.from_environment()
    http: Any
    if importlib.util.find_spec("httptools") is not None:
        from faaskit.http.server_protocol import LimitedHttpToolsProtocol

        # A partial, not a generated subclass, so the reloader can pickle the config.
        http = functools.partial(LimitedHttpToolsProtocol, limits=limits)
    else:
        # h11 bounds the head by bytes only (it has no header count limit) and answers 400.
        http = "h11"
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        reload=reload,
        log_level=log_level,
        http=http,
        h11_max_incomplete_event_size=limits.max_bytes,
        server_header=False,
        **options,
    )


def run_server(config: uvicorn.Config) -> None:
    """Serve ``config`` until interrupted, under uvicorn's reloader when it asks to reload.

    What ``uvicorn.run`` does with its arguments, for a config :func:`uvicorn_config` made.
    """
    import uvicorn
    from uvicorn.supervisors import ChangeReload

    server = uvicorn.Server(config)
    try:
        if config.should_reload:
            sock = config.bind_socket()
            ChangeReload(config, target=server.run, sockets=[sock]).run()
        else:
            server.run()
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a developer stops the server; uvicorn has already shut down
    if not server.started and not config.should_reload:
        raise SystemExit(3)  # uvicorn's STARTUP_FAILURE: it has logged why


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
    runtime = Runtime(app, settings)
    if app.has_triggers and os.environ.get("FAASKIT_WORKER", "1") != "0":
        from faaskit.runtime.worker import Worker

        runtime.add_service(Worker(runtime).run)
    return create_asgi_app(app, runtime)


async def run_worker(
    app_reference: str, settings: Any, *, concurrency: int, lease: float = 60.0
) -> None:
    """``faaskit worker``: deliver until SIGTERM or SIGINT, then shut down gracefully."""
    import asyncio
    import signal

    from faaskit.loader import load_app
    from faaskit.observability.logging import configure_logging
    from faaskit.runtime.runtime import Runtime
    from faaskit.runtime.worker import Worker

    configure_logging(settings.log_level)
    app = load_app(app_reference)
    if not app.has_triggers:
        raise ConfigurationError(f"{app_reference} declares no subscriptions, tasks or crons")
    runtime = Runtime(app, settings)
    worker = Worker(runtime, concurrency=concurrency, lease=lease)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    import logging

    logging.getLogger("faaskit.worker").info(
        "worker started",
        extra={
            "fields": {
                "owner": worker.owner,
                "targets": sorted(worker.handlers),
                "database": settings.database_url,
                "concurrency": concurrency,
                "lease": lease,
            }
        },
    )
    try:
        await worker.run(stop)
    finally:
        await runtime.stop()


def check_port_free(host: str, port: int) -> None:
    """ConfigurationError with one clear line when ``host:port`` cannot be bound."""
    if not 0 < port < 65536:
        raise ConfigurationError(f"port {port} is out of range (1-65535)")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As uvicorn binds: connections of a killed server in TIME_WAIT must not keep a
        # supervisor's restart off the port for a minute; a live listener still does. (On
        # Windows the option would let the probe share a port in use, as asyncio knows.)
        if os.name == "posix":
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise ConfigurationError(
                    f"port {port} on {host} is already in use; pass --port to pick another"
                ) from None
            raise ConfigurationError(f"cannot listen on {host}:{port}: {error.strerror}") from None
