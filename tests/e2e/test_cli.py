"""The ``faaskit`` command, run as a real process the way a user runs it."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jwt
import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
FAASKIT = [sys.executable, "-m", "faaskit"]


def run(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: float = 60):
    return subprocess.run(
        [*FAASKIT, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["routes", "no_such_module"], "cannot find app 'no_such_module'"),
        (["routes", "examples/nowhere"], "no such file or folder"),
        (["routes", "examples/shop:nothing"], "has no attribute 'nothing'"),
        (["routes", "examples/shop", "--bogus"], "No such option: --bogus"),
        (["token", "--sub", "u1", "--ttl", "soon"], "not a duration"),
        (["dev", "examples/shop", "--port", "99999"], "port 99999 is out of range"),
    ],
)
def test_user_mistakes_print_one_line_and_exit_non_zero(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("faaskit: error:")
    assert message in lines[0]
    assert "Traceback" not in result.stderr


def test_dev_refuses_a_port_in_use_with_one_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run("dev", "examples/shop", "--port", str(port), "--no-reload")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"faaskit: error: port {port} on 127.0.0.1 is already in use; pass --port to pick another"
    )


def test_token_prints_only_a_token_signed_with_the_app_key(tmp_path: Path) -> None:
    env = {"FAASKIT_HOME": str(tmp_path / ".faaskit")}
    result = run(
        "token", "--sub", "u1", "--scope", "users:read users:write", "--ttl", "2h", env=env
    )
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert result.stdout == token + "\n"
    key = (tmp_path / ".faaskit" / "secrets" / "jwt-signing-key").read_text().strip()
    claims = jwt.decode(token, key, algorithms=["HS256"])
    assert claims["sub"] == "u1"
    assert claims["scope"] == "users:read users:write"
    assert claims["exp"] - claims["iat"] == 7200


def test_routes_lists_every_function_of_the_shop() -> None:
    result = run("routes", "examples/shop")
    assert result.returncode == 0, result.stderr
    for name in (
        "register",
        "create_user",
        "get_user",
        "update_user",
        "delete_user",
        "activate_user",
        "issue_token",
    ):
        assert name in result.stdout


def test_openapi_prints_the_document() -> None:
    result = run("openapi", "examples/shop")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["openapi"] == "3.1.0"
    assert "/users/{user_id}" in document["paths"]


def test_dev_serves_the_app_on_the_chosen_database_and_prints_urls(tmp_path: Path) -> None:
    port = free_port()
    database = tmp_path / "dev.db"
    process = subprocess.Popen(
        [
            *FAASKIT,
            "dev",
            "examples/shop",
            "--port",
            str(port),
            "--no-reload",
            "--database-url",
            f"sqlite:///{database}",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "FAASKIT_HOME": str(tmp_path / ".faaskit")},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.post(
                    f"http://127.0.0.1:{port}/register",
                    json={"email": "cli@example.com", "name": "Cli"},
                )
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "faaskit dev did not start"
                time.sleep(0.1)
        assert response.status_code == 201
        assert database.exists()
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}/openapi.json" in stderr
    assert str(database) in stderr
    log_lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert any(
        line.get("status") == 201 and line.get("function") == "register" for line in log_lines
    )


def test_demo_tours_the_shop_and_exits_zero(tmp_path: Path) -> None:
    result = run("demo", cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"All \d+ steps answered as expected", result.stdout)
    # it ends with what its own tour would cost, one verdict line per platform
    assert "faaskit cost report" in result.stdout
    text = " ".join(result.stdout.split())  # rich wraps long lines at 80 columns
    for platform in ("aws-lambda", "azure-consumption", "azure-flex", "cloud-run"):
        verdict = re.search(rf"{platform}: 70% cheaper (holds|fails) at the profile", text)
        assert verdict, f"no verdict line for {platform}"
    assert text.count("at 10x") >= 4 and text.count("at 100x") >= 4
