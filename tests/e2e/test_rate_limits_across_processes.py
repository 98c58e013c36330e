"""Rate limits are kept in the store, so they hold across processes: two ``faaskit dev``
servers on one store count one account's logins together, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import jwt

from tests.conftest import free_port
from tests.e2e.shop_support import PASSWORD, assert_problem

ROOT = Path(__file__).resolve().parents[2]
EMAIL = "shared@example.com"
DEV = [sys.executable, "-m", "faaskit", "dev", "examples/shop"]


@contextmanager
def shop_servers(count: int, database_url: str, home: Path, logs: Path) -> Iterator[list[str]]:
    """``count`` ``faaskit dev`` processes serving the shop on one store and one data
    directory (so one JWT key); their base URLs once each answers ``/healthz``."""
    env = {**os.environ, "FAASKIT_DATABASE_URL": database_url, "FAASKIT_HOME": str(home)}
    env.pop("FAASKIT_METRICS", None)
    started: list[tuple[subprocess.Popen[bytes], Path]] = []
    urls: list[str] = []
    try:
        for number in range(count):
            port = free_port()
            log = logs / f"server-{number}.log"
            with log.open("wb") as output:
                process = subprocess.Popen(
                    [*DEV, "--port", str(port), "--no-reload"],
                    cwd=ROOT,
                    env=env,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            started.append((process, log))
            urls.append(f"http://127.0.0.1:{port}")
        for (process, log), url in zip(started, urls, strict=True):
            wait_until_healthy(process, url, log)
        yield urls
    finally:
        for process, _ in started:
            stop(process)


def wait_until_healthy(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{url} exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer /healthz in 30 s:\n{log.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def staff_headers(home: Path) -> dict[str, str]:
    """A staff token signed with the key the servers generated under ``home``."""
    key = (home / "secrets" / "jwt-signing-key").read_text().strip()
    now = int(time.time())
    claims = {"sub": "staff", "scope": "users:read users:write users:staff"}
    token = jwt.encode({**claims, "iat": now, "exp": now + 600}, key, algorithm="HS256")
    return {"Authorization": f"Bearer {token}"}


def test_the_per_account_login_limit_counts_attempts_on_every_server(
    backend_url: str, tmp_path: Path
) -> None:
    home = tmp_path / ".faaskit"
    with shop_servers(2, backend_url, home, tmp_path) as (first, second):
        staff = staff_headers(home)
        body = {"email": EMAIL, "name": "Shared", "password": PASSWORD}
        created = httpx.post(f"{first}/users", json=body, headers=staff)
        assert created.status_code == 201, created.text
        user_id = created.json()["id"]
        activated = httpx.post(f"{second}/users/{user_id}/activate", headers=staff)
        assert activated.status_code == 200, activated.text

        def login(server: str, password: str) -> httpx.Response:
            credentials = {"email": EMAIL, "password": password}
            return httpx.post(f"{server}/auth/token", json=credentials, timeout=30)

        # five failed attempts, alternating: neither server alone has seen five
        for attempt, server in enumerate([first, second, first, second, first]):
            assert_problem(login(server, "wrong password"), 401, case=(attempt, server))
        sixth = login(second, PASSWORD)

        assert_problem(sixth, 429)
        retry_after = sixth.headers["retry-after"]
        assert retry_after.isdigit() and int(retry_after) >= 1, retry_after
        assert_problem(login(first, PASSWORD), 429)  # and the other server refuses it too
        stranger = httpx.post(
            f"{first}/auth/token", json={"email": "other@example.com", "password": PASSWORD}
        )
        assert_problem(stranger, 401)  # another account is not limited
