"""A database URL's password never reaches an error, a log or a banner."""

from __future__ import annotations

import pytest

from faaskit.errors import ConfigurationError
from faaskit.store import create_store
from faaskit.store.postgres import PostgresStore
from faaskit.store.urls import redacted

SECRET = "S3cret-Passw0rd"


SHOWN = [
    (f"postgresql://shop:{SECRET}@db:5432/shop", "postgresql://shop:***@db:5432/shop"),
    (
        f"postgresql://shop:{SECRET}@db/shop?sslmode=require",
        "postgresql://shop:***@db/shop?sslmode=require",
    ),
    (
        f"postgresql://db/shop?user=shop&password={SECRET}",
        "postgresql://db/shop?user=shop&password=***",
    ),
    (
        f"host=db user=shop password={SECRET} dbname=shop",
        "host=db user=shop password=*** dbname=shop",
    ),
    (f"postgresql://sh%40op:{SECRET}@db/shop", "postgresql://sh%40op:***@db/shop"),
    ("postgresql://shop@db/shop", "postgresql://shop@db/shop"),
    ("sqlite:///tmp/app.db", "sqlite:///tmp/app.db"),
]


@pytest.mark.parametrize(("url", "shown"), SHOWN)
def test_a_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert redacted(url) == shown
    assert SECRET not in redacted(url)


def test_an_unsupported_url_is_refused_without_showing_its_password() -> None:
    with pytest.raises(ConfigurationError) as refused:
        create_store(f"mysql://shop:{SECRET}@db/shop")
    assert SECRET not in str(refused.value)
    assert "mysql://shop:***@db/shop" in str(refused.value)


async def test_a_database_that_cannot_be_reached_is_named_without_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import psycopg_pool

    original = psycopg_pool.AsyncConnectionPool.open

    async def open_quickly(self: psycopg_pool.AsyncConnectionPool, **options: object) -> None:
        await original(self, wait=True, timeout=1.0)  # not the store's 10 s

    monkeypatch.setattr(psycopg_pool.AsyncConnectionPool, "open", open_quickly)
    store = PostgresStore(f"postgresql://shop:{SECRET}@127.0.0.1:1/shop")  # nothing listens
    with pytest.raises(ConfigurationError) as refused:
        await store.open()
    assert SECRET not in str(refused.value)
    assert "postgresql://shop:***@127.0.0.1:1/shop" in str(refused.value)
