"""A runtime gives its app's declared ``Search`` fields their typed columns when it starts:
the first query by a filter, range or sort field no longer fills a column from the
documents (writers waited meanwhile), and the answers are the same as before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from faaskit import App
from faaskit.config import Settings
from faaskit.runtime.runtime import Runtime
from faaskit.store import create_store, sqlite_search
from faaskit.store.postgres_search import PostgresSearch
from tests.conformance.test_search_typed import COLLECTION, SPEC, Oracle, backend_of, check, seeded


def _no_fill(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("a query filled a typed column")


async def test_declared_fields_have_typed_columns_before_the_first_query(
    backend_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = App("declared_search")
    app.collection(COLLECTION, search=SPEC)
    oracle = Oracle(backend_of(backend_url))
    store = create_store(backend_url)
    await store.open()
    # Documents written before the runtime started (an app that gains search, or a
    # restart): their typed rows are added and filled at start, not by a query.
    await seeded(store, oracle)
    settings = Settings.load(database_url=backend_url, data_dir=tmp_path, log_level="WARNING")
    runtime = Runtime(app, settings, store=store)
    await runtime.start()
    try:
        monkeypatch.setattr(sqlite_search, "_add_columns", _no_fill)
        monkeypatch.setattr(PostgresSearch, "_add_columns", _no_fill)

        await check(store, oracle, seed=7)
    finally:
        await runtime.stop()


async def test_a_restart_finds_the_columns_made_and_fills_nothing(
    backend_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = App("declared_search")
    app.collection(COLLECTION, search=SPEC)
    oracle = Oracle(backend_of(backend_url))
    settings = Settings.load(database_url=backend_url, data_dir=tmp_path, log_level="WARNING")
    first = Runtime(app, settings, store=create_store(backend_url))
    await first.start()
    try:
        await seeded(first.store, oracle)  # written after the columns exist: kept by writes
    finally:
        await first.stop()

    monkeypatch.setattr(sqlite_search, "_add_columns", _no_fill)
    monkeypatch.setattr(PostgresSearch, "_add_columns", _no_fill)
    again = Runtime(app, settings, store=create_store(backend_url))
    await again.start()
    try:
        await check(again.store, oracle, seed=8, count=80)
    finally:
        await again.stop()
