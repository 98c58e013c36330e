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
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise ConfigurationError(
                    f"port {port} on {host} is already in use; pass --port to pick another"
                ) from None
            raise ConfigurationError(f"cannot listen on {host}:{port}: {error.strerror}") from None
