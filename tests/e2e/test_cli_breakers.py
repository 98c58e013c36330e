"""``faaskit breakers list|reset`` against a store whose breakers tripped for real."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from faaskit.store import create_store
from tests.e2e.test_cli import run

WIDE = {"COLUMNS": "200"}  # rich fits tables to the terminal; make it wide


@pytest.fixture
def database(tmp_path: Path) -> str:
    """``payments`` open (3 failures, opened a second ago), ``email`` closed with one."""
    url = f"sqlite:///{tmp_path / 'app.db'}"

    async def fill() -> None:
        store = create_store(url)
        await store.open()
        try:
            now = time.time()
            for name, times in (("payments", 3), ("email", 1)):
                for _ in range(times):
                    await store.breaker_record(
                        name,
                        failed=True,
                        now=now - 1,
                        threshold=3,
                        recovery_timeout=60,
                        error="ProviderDown: the provider is down",
                    )
        finally:
            await store.close()

    asyncio.run(fill())
    return url


def test_breakers_list_shows_each_breaker_and_its_state(database: str) -> None:
    listed = run("breakers", "list", "--database-url", database, env=WIDE)

    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert "2 circuit breakers" in lines[0]
    payments = next(line for line in lines if "payments" in line)
    assert "open" in payments and "ProviderDown: the provider is down" in payments
    email = next(line for line in lines if "email" in line)
    assert "closed" in email


def test_breakers_list_json_is_what_the_store_holds(database: str) -> None:
    listed = run("breakers", "list", "--json", "--database-url", database)

    assert listed.returncode == 0, listed.stderr
    email, payments = json.loads(listed.stdout)
    assert (email["name"], email["state"], email["failures"]) == ("email", "closed", 1)
    assert (payments["name"], payments["state"], payments["opens"]) == ("payments", "open", 1)
    assert payments["due_at"] == pytest.approx(payments["opened_at"] + 60)
    assert payments["trial_due"] is False and payments["opened_iso"].endswith("+00:00")


def test_breakers_reset_closes_one(database: str) -> None:
    reset = run("breakers", "reset", "payments", "--database-url", database)

    assert reset.returncode == 0, reset.stderr
    assert reset.stdout.strip() == "reset circuit breaker payments: closed"
    listed = json.loads(run("breakers", "list", "--json", "--database-url", database).stdout)
    assert [breaker["name"] for breaker in listed] == ["email"]


def test_resetting_an_unknown_breaker_is_one_line_and_non_zero(database: str) -> None:
    reset = run("breakers", "reset", "nope", "--database-url", database)

    assert reset.returncode != 0
    assert reset.stderr.strip().splitlines() == [
        "faaskit: error: no circuit breaker 'nope'; see `faaskit breakers list`"
    ]
