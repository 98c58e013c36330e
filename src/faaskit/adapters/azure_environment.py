"""One runtime per Azure Functions worker process, shared by every function of a function
app: the HTTP trigger, the Service Bus trigger and the sweep timer.

The Python worker awaits ``async def`` functions on its one event loop, which lives as
long as the process; so the runtime starts on that loop once, at the first invocation of
any of the functions, and every invocation after runs on it. The first invocation of the
process is the cold one (``ctx.cold_start``); every invocation's Context carries how long
the process's start-up took (``ctx.startup_seconds``), as on Lambda.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from faaskit.app import App
from faaskit.clock import Clock
from faaskit.config import Settings
from faaskit.runtime.invocation import Invocation
from faaskit.runtime.runtime import Runtime

if TYPE_CHECKING:
    from faaskit.adapters.azure_servicebus import ServiceBusRelay
    from faaskit.http.gateway import Gateway
    from faaskit.runtime.relay import Relay
    from faaskit.runtime.worker import Worker

__all__ = ["AzureEnvironment"]

logger = logging.getLogger("faaskit.adapters.azure")


class AzureEnvironment:
    """The runtime, worker and gateway one worker process shares between its functions.

    ``relay`` is where commits relay their deliveries; with ``servicebus_relay`` and no
    ``relay``, a :class:`~faaskit.adapters.azure_servicebus.ServiceBusRelay` is made from
    the app settings at start-up (``FAASKIT_SERVICEBUS_QUEUE`` and ``FAASKIT_SERVICEBUS``).
    ``clock`` is for tests (a :class:`faaskit.testing.VirtualClock`).
    """

    def __init__(
        self,
        app: App,
        settings: Settings | None = None,
        *,
        relay: Relay | None = None,
        servicebus_relay: bool = False,
        sessions: bool = False,
        clock: Clock | None = None,
    ) -> None:
        self.app = app
        self.serve_http = False
        """Whether start-up builds the HTTP gateway (an HTTP function is registered)."""
        self._settings = settings
        self._relay = relay
        self._servicebus_relay = servicebus_relay
        self._sessions = sessions
        self._clock = clock
        self._runtime: Runtime | None = None
        self._made_relay: ServiceBusRelay | None = None
        self._worker: Worker | None = None
        self._gateway: Gateway | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self._startup_seconds: float | None = None
        self._served = False

    async def start(self) -> Runtime:
        """Start on the running loop now (idempotent): the runtime, the store, the keys,
        the relay. The first invocation does this when nothing did before."""
        loop = asyncio.get_running_loop()
        if self._runtime is not None and self._loop is loop:
            return self._runtime
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        async with self._lock:
            if self._runtime is not None and self._loop is loop:
                return self._runtime
            if self._runtime is not None:
                # started on a loop that is gone (the worker keeps one; a script may not)
                logger.warning("the event loop changed: starting the runtime again")
                self._runtime = self._worker = self._gateway = self._made_relay = None
            began = time.perf_counter()
            runtime = Runtime(self.app, self._settings or Settings.load(), clock=self._clock)
            runtime.relay = self._relay or self._default_relay(runtime)
            gateway = None
            if self.serve_http:
                from faaskit.http.gateway import Gateway

                gateway = Gateway(runtime)
            await runtime.start()
            self._runtime, self._gateway, self._loop = runtime, gateway, loop
            self._startup_seconds = time.perf_counter() - began
            self._served = False
            return runtime

    def _default_relay(self, runtime: Runtime) -> Relay | None:
        if not self._servicebus_relay:
            return None
        from faaskit.adapters.azure_servicebus import ServiceBusRelay

        # Bound to this loop (the async client's connection is): made again on a new one.
        made = ServiceBusRelay.from_environment(clock=runtime.clock, sessions=self._sessions)
        self._made_relay = made
        return made

    @property
    def runtime(self) -> Runtime:
        """The runtime (after :meth:`start` or the first invocation)."""
        if self._runtime is None:
            raise RuntimeError("the Azure functions have not started: await start()")
        return self._runtime

    @property
    def worker(self) -> Worker:
        """The worker that claims and runs what Service Bus messages name (made on first
        use: an HTTP-only process never loads it)."""
        if self._worker is None or self._worker.runtime is not self.runtime:
            from faaskit.runtime.worker import Worker

            self._worker = Worker(self.runtime)
        return self._worker

    @property
    def gateway(self) -> Gateway:
        """The HTTP gateway (built at start-up when :attr:`serve_http`)."""
        if self._gateway is None:
            from faaskit.http.gateway import Gateway

            self._gateway = Gateway(self.runtime)
        return self._gateway

    def invocation(self) -> Invocation:
        """The facts of the invocation beginning now: only the process's first is cold."""
        cold, self._served = not self._served, True
        return Invocation(cold, self._startup_seconds)

    async def close(self) -> None:
        """Stop the runtime and the relay it made (tests and scripts; the host never does)."""
        runtime, self._runtime, self._gateway, self._loop = self._runtime, None, None, None
        relay, self._made_relay, self._worker = self._made_relay, None, None
        try:
            if runtime is not None:
                await runtime.stop()
        finally:
            if relay is not None:
                await relay.close()
