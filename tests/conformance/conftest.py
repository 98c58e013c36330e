"""The conformance suite's store: a fresh, open one per test and backend."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from faaskit.store import Store, create_store


@pytest.fixture
async def store(backend_url: str) -> AsyncIterator[Store]:
    store = create_store(backend_url)
    await store.open()
    try:
        yield store
    finally:
        await store.close()
