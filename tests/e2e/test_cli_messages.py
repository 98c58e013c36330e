"""``faaskit dlq`` and ``faaskit events`` against a store with real dead letters."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from faaskit import App, Context
from faaskit.testing import AppHarness
from tests.e2e.test_cli import run

WIDE = {"COLUMNS": "200"}  # rich fits tables to the terminal; make it wide
app = App("dlq_demo")


@app.post("/orders", status=202)
async def accept(ctx: Context) -> dict[str, str]:
    ctx.publish("order.placed", {"order": "o-1"}, key="o-1")
    return {}


@app.subscribe("order.placed", max_attempts=2)
async def charge(payload: dict, ctx: Context) -> None:
    raise RuntimeError("card declined")


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'app.db'}"

    async def fill() -> None:
        async with AppHarness(app, database_url=url) as h:
            assert (await h.http.post("/orders")).status_code == 202
            await h.drain()
            from datetime import timedelta

            await h.advance(timedelta(minutes=5))
            assert len(await h.dead_letters()) == 1

    asyncio.run(fill())
    return url


def test_dlq_list_and_show_every_attempt(database: str) -> None:
    listed = run("dlq", "list", "--database-url", database, env=WIDE)
    assert listed.returncode == 0, listed.stderr
    assert "sub:charge" in listed.stdout
    assert "max attempts" in listed.stdout
    shown = run("dlq", "show", "1", "--database-url", database)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.count("RuntimeError: card declined") >= 2
    assert "attempt 1" in shown.stdout and "attempt 2" in shown.stdout
    assert "Traceback" in shown.stdout


def test_dlq_redrive_puts_the_message_back(database: str) -> None:
    result = run("dlq", "redrive", "1", "--database-url", database)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "redrove 1 dead letter"
    assert "0 dead letters" in run("dlq", "list", "--database-url", database).stdout


def test_dlq_mistakes_are_one_line(database: str) -> None:
    for args, message in (
        (["dlq", "show", "99"], "no dead letter 99"),
        (["dlq", "redrive"], "Name dead letters by SEQ or pass --all"),
        (["dlq", "purge", "1", "--all"], "not both"),
    ):
        result = run(*args, "--database-url", database)
        assert result.returncode != 0
        assert result.stderr.strip().splitlines() == [f"faaskit: error: {message}"] or (
            message in result.stderr and len(result.stderr.strip().splitlines()) == 1
        )


def test_dlq_purge_all(database: str) -> None:
    result = run("dlq", "purge", "--all", "--database-url", database)
    assert result.stdout.strip() == "purged 1 dead letter"


def test_events_tail_prints_published_messages_as_json_lines(database: str) -> None:
    result = run("events", "tail", "--topic", "order.placed", "--database-url", database)
    assert result.returncode == 0, result.stderr
    [line] = [json.loads(text) for text in result.stdout.splitlines()]
    assert line["topic"] == "order.placed"
    assert line["data"] == {"order": "o-1"}
    assert line["key"] == "o-1"
