"""``--json`` of every listing command: one JSON document on stdout whose content is what
the store holds; mistakes stay one line on stderr and a non-zero exit in both modes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from faaskit.testing import AppHarness
from tests.unit import cli_app
from tests.unit.cli_run import faaskit

APP = "tests.unit.cli_app:app"
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Filled:
    """A store after the app ran: what the CLI should find there."""

    url: str
    head: int
    checkpoint: int


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Filled:
    home = tmp_path_factory.mktemp("cli")
    url = f"sqlite:///{home / 'app.db'}"

    async def fill() -> Filled:
        async with AppHarness(cli_app.app, database_url=url, data_dir=home) as h:
            for note_id, title in (("n1", "first"), ("n2", "second")):
                response = await h.http.post(f"/notes/{note_id}", json={"title": title})
                assert response.status_code == 201
            assert (await h.http.post("/shipments/s-ok", json={})).status_code == 202
            assert (await h.http.post("/shipments/s-bad", json={"fail": True})).status_code == 202
            await h.drain()
            checkpoint = await h.runtime.store.checkpoint("notes")
            # a third note the projection has not caught up with: a lag of one event
            assert (await h.http.post("/notes/n3", json={"title": "third"})).status_code == 201
            head = await h.runtime.store.head_position()
            assert len(await h.dead_letters()) == 2
            return Filled(url, head, checkpoint)

    return asyncio.run(fill())


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAASKIT_HOME", str(tmp_path / ".faaskit"))


def listed(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code, out, err = faaskit(capsys, *args, "--json")
    assert (code, err) == (0, "")
    return json.loads(out)


def test_routes_json_lists_each_function_with_its_auth(
    capsys: pytest.CaptureFixture[str],
) -> None:
    routes = listed(capsys, "routes", APP)

    by_name = {route["name"]: route for route in routes}
    assert sorted(by_name) == ["add_note", "get_note", "ship"]
    assert by_name["add_note"] == {
        "method": "POST",
        "path": "/notes/{note_id}",
        "name": "add_note",
        "status": 201,
        "auth": "public",
        "scopes": [],
        "summary": "Add a note",
        "tags": ["notes"],
    }
    assert (by_name["get_note"]["auth"], by_name["get_note"]["scopes"]) == ("token", ["notes:read"])
    assert by_name["ship"]["status"] == 202


def test_dlq_list_json_is_an_array_of_dead_letters(
    filled: Filled, capsys: pytest.CaptureFixture[str]
) -> None:
    letters = listed(capsys, "dlq", "list", "--database-url", filled.url)

    assert [letter["seq"] for letter in letters] == [1, 2]
    first = letters[0]
    assert first["target"] == "sub:notify" and first["attempts"] == 1
    assert "RuntimeError: mail server down" in first["last_error"]
    assert first["message"]["topic"] == "note.added"
    assert first["message"]["data"] == {"note_id": "n1"} and first["message"]["key"] == "n1"
    assert first["died_iso"].startswith(first["message"]["published_iso"][:10])
    assert "errors" not in first  # tracebacks are for `dlq show`
    assert (
        listed(capsys, "dlq", "list", "--limit", "1", "--database-url", filled.url)[0]["seq"] == 1
    )


def test_dlq_show_json_has_every_attempt_with_its_traceback(
    filled: Filled, capsys: pytest.CaptureFixture[str]
) -> None:
    letter = listed(capsys, "dlq", "show", "2", "--database-url", filled.url)

    assert letter["seq"] == 2 and letter["message"]["data"] == {"note_id": "n2"}
    [attempt] = letter["errors"]
    assert attempt["attempt"] == 1 and "mail server down" in attempt["error"]
    assert "Traceback" in attempt["traceback"] and attempt["iso"].endswith("+00:00")


def test_events_tail_json_is_one_array_of_the_latest_messages(
    filled: Filled, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("events", "tail", "--topic", "note.added", "--database-url", filled.url)

    messages = listed(capsys, *args)
    assert [m["data"]["note_id"] for m in messages] == ["n1", "n2", "n3"]
    assert {m["topic"] for m in messages} == {"note.added"}
    assert all(isinstance(m["published_at"], float) and m["published_iso"] for m in messages)
    assert [m["key"] for m in listed(capsys, *args, "--limit", "2")] == ["n2", "n3"]


def test_projections_status_json_gives_checkpoint_head_and_lag(
    filled: Filled, capsys: pytest.CaptureFixture[str]
) -> None:
    status = listed(capsys, "projections", "status", APP, "--database-url", filled.url)

    assert filled.checkpoint > 0 and filled.head > filled.checkpoint
    assert status == [
        {
            "name": "notes",
            "event_types": ["NoteAdded"],
            "checkpoint": filled.checkpoint,
            "head": filled.head,
            "lag": filled.head - filled.checkpoint,
        }
    ]


def test_sagas_list_json_is_newest_first_with_status_and_failure(
    filled: Filled, capsys: pytest.CaptureFixture[str]
) -> None:
    sagas = listed(capsys, "sagas", "list", "--database-url", filled.url)

    assert {saga["id"]: saga["status"] for saga in sagas} == {
        "s-ok": "completed",
        "s-bad": "failed",
    }
    assert sagas[0]["started_at"] >= sagas[1]["started_at"]
    by_id = {saga["id"]: saga for saga in sagas}
    assert by_id["s-bad"]["failure"] == "send: no carrier"
    assert (by_id["s-ok"]["steps_completed"], by_id["s-ok"]["steps_total"]) == (2, 2)
    assert by_id["s-ok"]["finished_iso"] is not None
    only = listed(capsys, "sagas", "list", "--status", "failed", "--database-url", filled.url)
    assert [saga["id"] for saga in only] == ["s-bad"]


def test_sagas_show_json_has_the_failure_and_the_timeline(
    filled: Filled, capsys: pytest.CaptureFixture[str]
) -> None:
    saga = listed(capsys, "sagas", "show", "s-bad", "--database-url", filled.url)

    assert (saga["id"], saga["name"], saga["status"]) == ("s-bad", "shipping", "failed")
    assert saga["input"] == {"fail": True}
    assert saga["failure_detail"]["reason"] == "no carrier"
    assert saga["failure_detail"]["details"] == {"zone": "north"}
    events = [(entry["kind"], entry["step"], entry["event"]) for entry in saga["timeline"]]
    assert ("step", "pack", "completed") in events
    assert ("step", "send", "failed") in events
    assert [entry["at"] for entry in saga["timeline"]] == sorted(
        entry["at"] for entry in saga["timeline"]
    )


@pytest.mark.parametrize("json_flag", [[], ["--json"]], ids=["table", "json"])
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["routes", "no_such_module"], "cannot find app 'no_such_module'"),
        (["projections", "status", "tests.unit.cli_app:nothing"], "has no attribute 'nothing'"),
        (["dlq", "show", "99"], "no dead letter 99; see `faaskit dlq list`"),
        (["sagas", "show", "nope"], "no saga 'nope'; see `faaskit sagas list`"),
        (["sagas", "list", "--status", "done"], "--status 'done' is not a saga status"),
    ],
)
def test_mistakes_are_one_line_on_stderr_in_both_modes(
    filled: Filled,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
    json_flag: list[str],
) -> None:
    database = [] if args[0] == "routes" or args[1] == "status" else ["--database-url", filled.url]
    code, out, err = faaskit(capsys, *args, *json_flag, *database)

    assert code != 0
    assert out == ""
    [line] = err.strip().splitlines()
    assert line.startswith("faaskit: error: ") and message in line


def test_json_cannot_follow(filled: Filled, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = faaskit(capsys, "events", "tail", "-f", "--json", "--database-url", filled.url)

    assert (code, out) == (2, "")
    assert err.strip().splitlines() == [
        "faaskit: error: Invalid value: --json prints one document and cannot --follow"
    ]


def test_a_bad_app_path_with_json_is_one_line_from_a_real_process() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "faaskit", "routes", "examples/nowhere", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("faaskit: error: ") and "no such file or folder" in line


def test_import_faaskit_does_not_import_the_cli(tmp_path: Path) -> None:
    script = "import sys, faaskit\nprint(sorted(m for m in sys.modules if 'cli' in m))"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_cli_imports_no_runtime_store_driver_or_rich_until_a_command_runs(
    tmp_path: Path,
) -> None:
    script = "import sys, faaskit.cli\nprint(' '.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    heavy = ("faaskit.runtime", "faaskit.store.sqlite", "faaskit.store.postgres", "rich", "sqlite3")
    loaded = result.stdout.split()
    assert [name for name in loaded if name.startswith(heavy)] == []
