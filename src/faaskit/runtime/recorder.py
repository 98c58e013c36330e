"""Invocation records: what every invocation of any kind cost, kept in the store.

The runtime hands each finished invocation's record to the :class:`InvocationRecorder`,
which never commits one on its own: once RIDE_ALONG records wait (or one has waited
FLUSH_INTERVAL), the next unit of work that writes anything takes them
(:meth:`InvocationRecorder.take`) and commits them with its own writes, one multi-row
insert; a unit that fails gives them back. Only when nothing has committed for ``FLUSH_INTERVAL``
(an idle process, a read-only workload) does the recorder commit what waits, alone — one
commit for all of them. Records older than the retention are deleted as records are
written, at most once a minute.

``FAASKIT_RECORDS=off`` turns recording off; ``FAASKIT_RECORDS_RETENTION`` keeps records
that long (``7d`` by default; ``90m``, ``12h``, ``30d`` or seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Generator
from typing import Any

from faaskit.errors import ConfigurationError
from faaskit.store.protocol import (
    InvocationRecord,
    InvocationRow,
    RecordInvocations,
    Store,
    WriteSet,
)

__all__ = [
    "RECORDS_VARIABLE",
    "RETENTION_VARIABLE",
    "CpuTimed",
    "InvocationRecorder",
    "parse_duration",
    "peak_memory",
    "process_age",
]

logger = logging.getLogger("faaskit.records")
RECORDS_VARIABLE = "FAASKIT_RECORDS"
RETENTION_VARIABLE = "FAASKIT_RECORDS_RETENTION"
DEFAULT_RETENTION = 7 * 86_400.0
FLUSH_INTERVAL = 1.0
"""Seconds records may wait for a unit of work to take them before they commit alone."""
RIDE_ALONG = 256
"""Records a unit of work takes at once: fewer wait for more (or for FLUSH_INTERVAL), so
they go as one multi-row insert rather than a row beside every unit."""
FLUSH_AT = 1_024
"""Records waiting that wake the background flush at once (one batch row's worth): a
read-only endpoint at 20,000 req/s must not wait out FLUSH_INTERVAL."""
PRUNE_INTERVAL = 60.0
MAX_WAITING = 10_000
"""Records kept waiting at most: a store that cannot be written to drops the oldest tenth
at once (not one at a time: shifting the list on every request cost 13 µs of a 50 µs
hello)."""
_UNITS = {"s": 1.0, "m": 60.0, "h": 3_600.0, "d": 86_400.0}


def parse_duration(text: str, what: str) -> float:
    """``90``, ``90s``, ``15m``, ``12h`` or ``7d`` as seconds; ConfigurationError else."""
    value = text.strip().lower()
    scale = _UNITS.get(value[-1:])
    number = value[:-1] if scale is not None else value
    try:
        seconds = float(number) * (scale or 1.0)
    except ValueError:
        raise ConfigurationError(f"{what}={text!r}: use seconds or 90m, 12h, 7d") from None
    if not seconds >= 0 or seconds == float("inf"):
        raise ConfigurationError(f"{what}={text!r}: use a duration of 0 or more")
    return seconds


class InvocationRecorder:
    """Keeps finished invocations' records until a unit of work (or the flush) writes them."""

    def __init__(self, store: Store, now: Callable[[], float], retention: float | None) -> None:
        self.store = store
        self.now = now
        self.retention = retention
        """Seconds records are kept (None: forever)."""
        self.ride_along = RIDE_ALONG
        """Records a unit of work takes at once (fewer wait, up to FLUSH_INTERVAL)."""
        self._waiting: list[InvocationRow] = []
        self._waiting_since = 0.0
        self._pruned_at = 0.0
        self._due: asyncio.Event | None = None
        """Set when FLUSH_AT records wait (while :meth:`run` runs)."""
        self.dropped = 0
        """Records dropped because MAX_WAITING were waiting."""

    @classmethod
    def from_environment(cls, store: Store, now: Callable[[], float]) -> InvocationRecorder | None:
        """The recorder ``FAASKIT_RECORDS`` and ``FAASKIT_RECORDS_RETENTION`` ask for."""
        if os.environ.get(RECORDS_VARIABLE, "on").strip().lower() in ("off", "0", "false", "no"):
            return None
        text = os.environ.get(RETENTION_VARIABLE)
        retention = DEFAULT_RETENTION if text is None else parse_duration(text, RETENTION_VARIABLE)
        return cls(store, now, retention or None)

    def add(self, record: InvocationRecord | InvocationRow) -> None:
        """Keep a finished invocation's record (as a row: the runtime's fast path)."""
        waiting = self._waiting
        if not waiting:
            self._waiting_since = time.monotonic()
        elif len(waiting) >= FLUSH_AT:
            if self._due is not None:
                self._due.set()
            if len(waiting) >= MAX_WAITING:
                drop = MAX_WAITING // 10
                del waiting[:drop]
                self.dropped += drop
        waiting.append(record.row() if isinstance(record, InvocationRecord) else record)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def take(self, *, at_least: int = 1) -> RecordInvocations | None:
        """The write of every record waiting (and the retention's delete when due), for
        the unit of work about to commit; None when fewer than ``at_least`` wait and none
        has waited FLUSH_INTERVAL yet."""
        waiting = len(self._waiting)
        if not waiting or (
            waiting < at_least and time.monotonic() - self._waiting_since < FLUSH_INTERVAL
        ):
            return None
        records, self._waiting = self._waiting, []
        prune_before = None
        if self.retention is not None:
            now = self.now()
            if now - self._pruned_at >= PRUNE_INTERVAL:
                self._pruned_at = now
                prune_before = now - self.retention
        return RecordInvocations(records, prune_before)

    def give_back(self, write: RecordInvocations) -> None:
        """Records a failed unit of work took: they wait for the next one."""
        self._waiting[:0] = write.rows
        if write.prune_before is not None:
            self._pruned_at = 0.0

    async def flush(self) -> None:
        """Commit every record waiting, alone (the recorder's own commit)."""
        write = self.take()
        if write is None:
            return
        try:
            await self.store.commit(WriteSet([write]))
        except Exception:
            self.give_back(write)
            raise

    async def run(self, stop: asyncio.Event) -> None:
        """Commit records no unit of work took within FLUSH_INTERVAL, or as soon as
        FLUSH_AT wait; flush at the end."""
        due = self._due = asyncio.Event()

        async def wake_on_stop() -> None:
            await stop.wait()
            due.set()

        watcher = asyncio.ensure_future(wake_on_stop())
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(due.wait(), FLUSH_INTERVAL / 2)
                due.clear()
                waiting = len(self._waiting)
                if waiting and (
                    waiting >= FLUSH_AT or time.monotonic() - self._waiting_since >= FLUSH_INTERVAL
                ):
                    try:
                        await self.flush()
                    except Exception:  # the store is down: they wait for the next round
                        logger.warning("writing invocation records failed", exc_info=True)
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), FLUSH_INTERVAL)
        finally:
            self._due = None
            watcher.cancel()
            try:
                await self.flush()
            except Exception:
                logger.warning("writing the last invocation records failed", exc_info=True)


_NOT_STARTED: Any = object()


class CpuTimed:
    """Awaits a coroutine and adds up the time its own steps hold the thread (``cpu``):
    what runs while it waits — other tasks — is not counted. Measured with the
    performance counter around each step (a thread CPU clock costs a system call, 0.7 µs,
    twice a step): a step's time is its CPU time unless it blocks the thread in a
    system call, which holds the invocation's resources alike.

    :meth:`first_step` runs the first step without the wrapper: most handlers finish
    there (no await that suspends), and then no ``CpuTimed`` is made at all."""

    __slots__ = ("_coroutine", "_yielded", "cpu")

    def __init__(self, coroutine: Any, cpu: float = 0.0, yielded: Any = _NOT_STARTED) -> None:
        self._coroutine = coroutine
        self._yielded = yielded
        self.cpu = cpu

    @staticmethod
    def first_step(coroutine: Any) -> tuple[Any, float, CpuTimed | None]:
        """Run ``coroutine``'s first step: (its result, the step's time, None) when it
        finished there, else (None, the step's time, a ``CpuTimed`` to await for the
        rest). An exception of that step propagates."""
        clock = time.perf_counter
        started = clock()
        try:
            yielded = coroutine.send(None)
        except StopIteration as returned:
            return returned.value, clock() - started, None
        spent = clock() - started
        return None, spent, CpuTimed(coroutine, spent, yielded)

    def __await__(self) -> Generator[Any, Any, Any]:
        coroutine = self._coroutine
        clock = time.perf_counter
        sent: Any = None
        thrown: BaseException | None = None
        if self._yielded is not _NOT_STARTED:  # the first step ran: pass on what it yielded
            try:
                sent = yield self._yielded
            except BaseException as error:
                thrown = error
            self._yielded = _NOT_STARTED
        while True:
            started = clock()
            try:
                yielded = coroutine.send(sent) if thrown is None else coroutine.throw(thrown)
            except StopIteration as returned:
                self.cpu += clock() - started
                return returned.value
            except BaseException:
                self.cpu += clock() - started
                raise
            self.cpu += clock() - started
            try:
                sent, thrown = (yield yielded), None
            except BaseException as error:  # cancelled while it waits: it hears it
                sent, thrown = None, error


_memory: list[int] = [0, 0]
"""(calls since the last reading, the peak then)."""
_MEMORY_EVERY = 256


def peak_memory() -> int | None:
    """The process's peak resident memory in bytes, read once every 256 calls (a system
    call each time would cost more than a hello; a peak only grows, so a reading late by a
    few invocations is the peak of a moment before). None where the platform does not say."""
    calls = _memory[0]
    if calls and _memory[1]:
        _memory[0] = calls + 1 if calls < _MEMORY_EVERY else 0
        return _memory[1]
    try:
        import resource
    except ImportError:  # not on this platform
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    _memory[0], _memory[1] = 1, peak
    return peak


def process_age() -> float | None:
    """Seconds since this process started (Linux: /proc), None where unknown."""
    try:
        with open("/proc/self/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        with open("/proc/uptime", "rb") as uptime:
            up = float(uptime.read().split()[0])
        return max(0.0, up - int(fields[19]) / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None
