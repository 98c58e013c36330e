"""An append to a long stream costs SQLite what an append to a short one does: the head is
read off the (stream, version) index, not found by scanning the stream (which made saving
to a long-lived aggregate slower with every event). Counted in SQLite VM steps (its
progress handler), which do not depend on the machine's load."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from faaskit.store import statements as sql

SCHEMA = Path(sql.__file__).with_name("sqlite.sql").read_text()


def _steps_of_one_append(events_before: int) -> int:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.executescript(SCHEMA)
    conn.executemany(
        "INSERT INTO faaskit_events (stream, version, type, data, metadata, recorded_at)"
        " VALUES ('s', ?, 't', '{}', '{}', 1.0)",
        [(version,) for version in range(1, events_before + 1)],
    )
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    conn.set_progress_handler(count, 1)
    query = sql.sqlite_placeholders(sql.APPEND_EXPECTING)
    params = ("s", "t", "{}", "{}", 1.0, "s", events_before)
    assert conn.execute(query, params).rowcount == 1
    conn.set_progress_handler(None, 1)
    assert conn.execute("SELECT MAX(version) FROM faaskit_events").fetchone() == (
        events_before + 1,
    )
    return steps


def test_an_append_does_not_scan_its_stream() -> None:
    short, long = _steps_of_one_append(10), _steps_of_one_append(5_000)
    assert long < 2 * short, (short, long)
