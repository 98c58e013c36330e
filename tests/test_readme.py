"""The README's quick-start runs as written."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import httpx
import pytest

from faaskit.loader import load_app
from tests.conftest import LiveServer

README = Path(__file__).resolve().parents[1] / "README.md"


def quick_start() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    assert blocks, "the README has no python example"
    return blocks[0]


def test_readme_quick_start_serves_notes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "hello.py").write_text(quick_start())
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "hello", raising=False)
    app = load_app("hello:app")
    with LiveServer(app, f"sqlite:///{tmp_path / 'app.db'}", tmp_path / ".faaskit") as server:
        created = httpx.post(f"{server.url}/notes", json={"text": "hi"})
        assert created.status_code == 201
        note = httpx.get(f"{server.url}/notes/{created.json()['id']}")
        assert note.json() == {"text": "hi"}
        missing = httpx.get(f"{server.url}/notes/nope")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
