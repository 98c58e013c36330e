"""The shop's cold start: fresh processes serve their first authenticated read, beside the
import times of Powertools for AWS Lambda and Chalice measured in the same run.

    .venv/bin/python benchmarks/run.py --only coldstart      # this section alone, spliced in

The request is ``GET /orders/{id}`` with a bearer token (scope ``orders:read``) for the
customer who placed the order: the gateway verifies the JWT, the handler reads the order
from the read model and its saga, and answers 200. A seeding process places the order once
(``faaskit.testing.AppHarness`` on a SQLite file: a user, an order, the projection and the
saga drained); each sample then gets its own copy of that file, as a new environment meets
a database that exists.

Two doors, each with and without ``FAASKIT_PREWARM=1`` (``faaskit dev --prewarm``):

- direct: ``coldstart_child.py`` in a fresh interpreter does what faaskit's Lambda handler
  does (import, runtime and gateway, ``runtime.start()``) and calls ``Gateway.respond``,
  timing each phase from the spawn;
- HTTP: ``faaskit dev``'s server (``faaskit.serving``, uvicorn with the flags every contender
  gets) on ``servers:faaskit_shop``, polled with the request itself on a new connection every
  2 ms from the spawn; a poll refused before the server listens never reaches it, so the
  first answered poll is the process's first request.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import harness
import imports
from results_coldstart import COMPARED, DIRECT, HTTP, ColdRow, ColdRun, ColdStartResults

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent / "examples"
DISTRIBUTIONS = ("faaskit", "aws-lambda-powertools", "chalice", "uvicorn", "pydantic")
SIGNING_KEY = "coldstart-benchmark-signing-key-0123456789abcdef"
"""The JWT key of the benchmark's throwaway store (set as FAASKIT_SECRET_JWT_SIGNING_KEY)."""
SCOPES = ("orders:read",)
VARIANTS = ((DIRECT, False), (DIRECT, True), (HTTP, False), (HTTP, True))
TIMEOUT = 60.0


@dataclass(frozen=True)
class Seeded:
    """The store the seeding process left, the order in it and a token for its customer."""

    home: Path
    order_id: str
    customer_id: str
    token: str
    routes: int
    resources: int
    """The shop's routes and ``@app.resource`` declarations (what ``--prewarm`` creates)."""

    @property
    def path(self) -> str:
        return f"/orders/{self.order_id}"


def child_environment(env: Mapping[str, str], **extra: str) -> dict[str, str]:
    """``env`` with the signing key and ``extra``; bytecode is written and read as it is
    for any installed package (see serve_faaskit.py)."""
    found = {**env, "FAASKIT_SECRET_JWT_SIGNING_KEY": SIGNING_KEY, **extra}
    found.pop("PYTHONDONTWRITEBYTECODE", None)
    return found


def seed(workdir: Path, env: Mapping[str, str]) -> Seeded:
    """Run this module's ``seed`` in a child process (the shop is imported there, not into
    the benchmark driver)."""
    home = workdir / "seed"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    done = subprocess.run(
        [sys.executable, __file__, "seed", str(home)],
        env=child_environment(env),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"seeding the shop failed: {done.stderr.strip()[-1500:]}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return Seeded(
        home,
        found["order_id"],
        found["customer_id"],
        found["token"],
        found["routes"],
        found["resources"],
    )


def sample_environment(
    seeded: Seeded, env: Mapping[str, str], home: Path, prewarm: bool, **extra: str
) -> dict[str, str]:
    """A fresh FAASKIT_HOME holding a copy of the seeded store."""
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    for file in seeded.home.glob("app.db*"):
        shutil.copy2(file, home / file.name)
    return child_environment(
        env,
        FAASKIT_HOME=str(home),
        FAASKIT_DATABASE_URL=f"sqlite:///{home / 'app.db'}",
        **({"FAASKIT_PREWARM": "1"} if prewarm else {}),
        **extra,
    )


def direct_sample(env: Mapping[str, str], cpu: list[str], seeded: Seeded, warm: int) -> ColdRun:
    """One fresh interpreter through ``Gateway.respond`` (coldstart_child.py)."""
    child = [sys.executable, str(HERE / "coldstart_child.py")]
    spawned = time.perf_counter()
    done = subprocess.run(
        [*cpu, *child, repr(spawned), seeded.path, str(warm), str(EXAMPLES)],
        env={**env, "COLDSTART_TOKEN": seeded.token},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the direct child failed: {done.stderr.strip()[-1500:]}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    if found.pop("statuses") != [200]:
        raise RuntimeError(f"GET {seeded.path} did not always answer 200: {done.stdout[-300:]}")
    return ColdRun(**found)


def _get(port: int, path: str, token: str) -> tuple[int, bytes]:
    """``GET path`` with the bearer token on a new connection."""
    conn = http.client.HTTPConnection(harness.HOST, port, timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def http_sample(
    env: Mapping[str, str], cpu: list[str], seeded: Seeded, warm: int, log: Path
) -> ColdRun:
    """One fresh ``faaskit dev``-style server, polled with the request from its spawn."""
    port = harness.free_port()
    command = harness.uvicorn_command("faaskit_shop", port, cpu)
    with log.open("wb") as output:
        spawned = time.perf_counter()
        process = subprocess.Popen(
            command, env=dict(env), cwd=log.parent, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            begun, status, body = _first_answer(process, port, seeded, spawned)
            answered = time.perf_counter()
            warm_ms, statuses = [], {status}
            for _ in range(warm):
                started = time.perf_counter()
                statuses.add(_get(port, seeded.path, seeded.token)[0])
                warm_ms.append((time.perf_counter() - started) * 1e3)
        except Exception as error:
            harness._stop(process)
            tail = log.read_text(errors="replace")[-1500:]
            raise RuntimeError(f"{error}\n--- server log ---\n{tail}") from error
        finally:
            harness._stop(process)
    if statuses != {200}:
        raise RuntimeError(f"GET {seeded.path} answered {sorted(statuses)}: {body[:200]!r}")
    ordered = sorted(warm_ms)
    return ColdRun(
        total_ms=(answered - spawned) * 1e3,
        first_ms=(answered - begun) * 1e3,
        warm_p50_ms=ordered[(len(ordered) - 1) // 2],
        warm_p99_ms=ordered[int(len(ordered) * 0.99) - 1],
    )


def _first_answer(
    process: subprocess.Popen[bytes], port: int, seeded: Seeded, spawned: float
) -> tuple[float, int, bytes]:
    """When the poll that got the first answer began, and that answer."""
    while time.perf_counter() - spawned < TIMEOUT:
        begun = time.perf_counter()
        try:
            status, body = _get(port, seeded.path, seeded.token)
            return begun, status, body
        except ConnectionRefusedError:
            pass  # not listening yet: the request reached no server
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before answering")
        time.sleep(0.002)
    raise RuntimeError(f"no answer within {TIMEOUT:.0f} s")


def measure(
    found: ColdStartResults,
    workdir: Path,
    env: Mapping[str, str],
    cpu: list[str],
    *,
    samples: int,
    warm: int,
    import_runs: int,
    advance: Callable[[str], None],
) -> None:
    """Fill ``found``: the four variants in interleaved rounds (one discarded round first,
    which compiles the .pyc files), then the imports beside them."""
    found.samples, found.warm_requests = samples, warm
    advance("cold start: seeding the shop's store")
    seeded = seed(workdir, env)
    found.routes, found.resources = seeded.routes, seeded.resources
    found.request = f"`GET /orders/{{id}}`, a bearer token with scope `{' '.join(SCOPES)}`"
    rows = [ColdRow(door, prewarm) for door, prewarm in VARIANTS]
    found.rows = rows
    for round_ in range(samples + 1):
        shift = round_ % len(rows)  # the order rotates: no variant always goes first
        for row in rows[shift:] + rows[:shift]:
            label = "warm-up" if round_ == 0 else f"run {round_}"
            advance(f"cold start: {row.name}, {label}")
            if row.error:
                continue
            try:
                run = _sample(row, seeded, workdir, env, cpu, warm, round_)
            except Exception as error:
                row.error = str(error).strip().splitlines()[0]
                found.notes.append(f"{row.name} failed: {error}")
                continue
            if round_ > 0:
                row.runs.append(run)
    advance("cold start: empty interpreter")
    found.empty_ms = imports.empty_interpreter_ms(env, cpu, import_runs)
    for module in COMPARED:
        advance(f"cold start: import {module}")
        try:
            found.imports.append(
                imports.import_time(module, env, cpu, runs=import_runs, baseline_ms=found.empty_ms)
            )
        except Exception as error:
            found.import_errors[module] = str(error).splitlines()[0]


def _sample(
    row: ColdRow,
    seeded: Seeded,
    workdir: Path,
    env: Mapping[str, str],
    cpu: list[str],
    warm: int,
    round_: int,
) -> ColdRun:
    name = f"{'direct' if row.door == DIRECT else 'http'}{'-prewarm' if row.prewarm else ''}"
    home = workdir / f"{name}-{round_}"
    sample_env = sample_environment(
        seeded, env, home, row.prewarm, FAASKIT_APP=str(EXAMPLES / "shop")
    )
    if row.door == DIRECT:
        run = direct_sample(sample_env, cpu, seeded, warm)
    else:
        run = http_sample(sample_env, cpu, seeded, warm, home / "server.log")
    shutil.rmtree(home, ignore_errors=True)
    return run


def steps(samples: int, import_runs: int) -> int:
    """Progress steps of :func:`measure` (its ``advance`` calls)."""
    return 1 + (samples + 1) * len(VARIANTS) + 1 + len(COMPARED)


# --- the seeding child --------------------------------------------------------------------


async def _seed(home: Path) -> dict[str, str | int]:
    """A user who placed one order, the read model and the saga drained; a token for them."""
    sys.path.insert(0, str(EXAMPLES))
    from faaskit.testing import AppHarness
    from shop import app

    async with AppHarness(app, data_dir=home) as h:
        staff = h.auth("bench-admin", "users:write", "users:staff")
        user = {"email": "ann@example.com", "name": "Ann Lee", "password": "s3cret-pass"}
        created = await h.http.post("/users", json=user, headers=staff)
        assert created.status_code == 201, created.text
        customer = str(created.json()["id"])
        line = {"product_id": "desk-lamp", "product_name": "Desk Lamp", "quantity": 2}
        order = {
            "items": [{**line, "unit_price": 19.99}],
            "total": 39.98,
            "shipping_address": {
                "street": "1 Main St",
                "city": "Berlin",
                "postal_code": "10115",
                "country": "DE",
            },
            "payment_method": "card",
        }
        placed = await h.http.post(
            "/orders", json=order, headers=h.auth(customer, "orders:read", "orders:write")
        )
        assert placed.status_code == 202, placed.text
        order_id = str(placed.json()["order_id"])
        await h.drain()
        token = h.runtime.tokens.mint(customer, SCOPES, ttl=24 * 3600)
        shown = await h.http.get(
            f"/orders/{order_id}", headers={"authorization": f"Bearer {token}"}
        )
        assert shown.status_code == 200, shown.text
    return {
        "order_id": order_id,
        "customer_id": customer,
        "token": token,
        "routes": len(app.routes),
        "resources": len(app.resources),
    }


if __name__ == "__main__" and sys.argv[1:2] == ["seed"]:
    import asyncio

    os.environ.setdefault("FAASKIT_LOG_LEVEL", "WARNING")
    print(json.dumps(asyncio.run(_seed(Path(sys.argv[2])))))
