"""Invocation records: what every invocation of any kind cost, kept in the store.

The runtime hands each finished invocation's record to the :class:`InvocationRecorder`,
which never commits one on its own: once RIDE_ALONG records wait (or FLUSH_INTERVAL has
passed since records were last taken), the next unit of work that writes anything takes them
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
from collections.abc import Callable

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
        self.rows: list[InvocationRow] = []
        """The records waiting, as rows. The runtime appends to it directly (a call per
        invocation costs more than the append) and calls :meth:`overflowing` when
        ``len(rows) >= FLUSH_AT``; :meth:`add` does both."""
        self.peak = peak_memory()
        """The process's peak resident memory in bytes, as last read (None where the
        platform does not say): read again on every take (at least once a second while
        records wait), and by :meth:`read_peak` for an invocation long enough to have grown
        it."""
        self._taken_at = time.monotonic()
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
        """Keep a finished invocation's record (a row: what the runtime appends)."""
        rows = self.rows
        rows.append(record.row() if isinstance(record, InvocationRecord) else record)
        if len(rows) >= FLUSH_AT:
            self.overflowing()

    def overflowing(self) -> None:
        """FLUSH_AT or more records wait: wake the flush; past MAX_WAITING (a store that
        cannot keep up), drop the oldest tenth."""
        if self._due is not None:
            self._due.set()
        rows = self.rows
        if len(rows) > MAX_WAITING:
            drop = MAX_WAITING // 10
            del rows[:drop]
            self.dropped += drop

    def read_peak(self) -> int | None:
        """Read the process's peak memory now (:attr:`peak`)."""
        self.peak = peak = peak_memory()
        return peak

    @property
    def waiting(self) -> int:
        return len(self.rows)

    def take(self, *, at_least: int = 1) -> RecordInvocations | None:
        """The write of every record waiting (and the retention's delete when due), for
        the unit of work about to commit; None when fewer than ``at_least`` wait and the
        last take was less than FLUSH_INTERVAL ago (so none has waited longer)."""
        waiting = len(self.rows)
        if not waiting:
            return None
        taken_at = time.monotonic()
        if waiting < at_least and taken_at - self._taken_at < FLUSH_INTERVAL:
            return None
        records, self.rows = self.rows, []
        self._taken_at = taken_at
        self.read_peak()
        prune_before = None
        if self.retention is not None:
            now = self.now()
            if now - self._pruned_at >= PRUNE_INTERVAL:
                self._pruned_at = now
                prune_before = now - self.retention
        return RecordInvocations(records, prune_before)

    def give_back(self, write: RecordInvocations) -> None:
        """Records a failed unit of work took: they wait for the next one."""
        self.rows[:0] = write.rows
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
                waiting = len(self.rows)
                if waiting and (
                    waiting >= FLUSH_AT or time.monotonic() - self._taken_at >= FLUSH_INTERVAL
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


def peak_memory() -> int | None:
    """The process's peak resident memory in bytes (a system call: the runtime reads
    :attr:`InvocationRecorder.peak` instead); None where the platform does not say."""
    try:
        import resource
    except ImportError:  # not on this platform
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


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
