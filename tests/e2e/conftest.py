"""Fixtures of the end-to-end tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.e2e.shop_support import ShopClient


@pytest.fixture
def shop(live_server: Callable[[Any], Any]) -> Iterator[ShopClient]:
    """The shop app on a fresh store, once per backend."""
    from shop import app

    client = ShopClient(live_server(app))
    yield client
    client.close()
