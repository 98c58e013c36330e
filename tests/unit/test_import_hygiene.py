"""``import faaskit`` stays light for cold starts: heavy dependencies load only when used."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

LAZY = (
    "argon2",
    "boto3",
    "botocore",
    "jwt",
    "opentelemetry",
    "prometheus_client",
    "psycopg",
    "psycopg_pool",
    "rich",
    "sqlite3",
    "tenacity",
    "typer",
    "uvicorn",
)

DECLARE_AN_APP = """
from faaskit import App, Context, JWTAuth

app = App("light", auth=JWTAuth())
users = app.collection("users", unique=["email"], casefold=["email"])

@app.resource(prewarm=True)
def mailer() -> dict:
    return {}

@app.get("/users/{user_id}", auth="users:read")
async def get_user(user_id: str, ctx: Context, mailer: dict) -> dict:
    return {}
"""


def loaded_after(code: str, cwd: Path) -> set[str]:
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def heavy(modules: set[str]) -> list[str]:
    return sorted(
        name for name in modules for lazy in LAZY if name == lazy or name.startswith(lazy + ".")
    )


@pytest.mark.parametrize(
    "code", ["import faaskit", DECLARE_AN_APP], ids=["import", "declare-an-app"]
)
def test_import_and_declarations_load_no_heavy_dependency(code: str, tmp_path: Path) -> None:
    modules = loaded_after(code, tmp_path)

    assert "faaskit" in modules
    assert heavy(modules) == []


def test_import_and_declarations_touch_no_files(tmp_path: Path) -> None:
    loaded_after(DECLARE_AN_APP, tmp_path)

    assert list(tmp_path.iterdir()) == []


STANDARD_WEIGHT = ("dataclasses", "datetime", "re")
"""Standard modules a cold start pays for (dataclasses brings inspect, ast, dis and
tokenize; typing imports re): ``import faaskit`` loads none of them."""


def test_import_loads_no_dataclasses_datetime_or_re(tmp_path: Path) -> None:
    # Written out without json (which imports re) so the check sees what faaskit loaded.
    script = "import faaskit, sys\nprint(' '.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    modules = set(result.stdout.split())

    assert "faaskit" in modules
    assert sorted(modules & set(STANDARD_WEIGHT)) == []


def test_public_names_still_load_on_first_use(tmp_path: Path) -> None:
    modules = loaded_after(
        "import faaskit\nfaaskit.Collection, faaskit.CollectionSpec, faaskit.Event", tmp_path
    )

    assert {"faaskit.documents", "faaskit.events"} <= modules
