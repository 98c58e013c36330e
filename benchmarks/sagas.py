"""Sagas side by side: faaskit's saga engine and DBOS Transact's workflows, a 4-step saga of
trivial steps on SQLite and on PostgreSQL, one process each.

    .venv/bin/python benchmarks/sagas.py           # only this section, into RESULTS.md
    .venv/bin/python benchmarks/sagas.py --quick --output /tmp/sagas.md
    make bench                                     # every section, this one included

Each run is a child process (``sagas.py child``, the sides in saga_sides.py) of one
contender on one backend: a warm-up, then (a) one saga at a time, (b) many started at
once, then all awaited; it prints one JSON object. Per round both contenders run on both
backends, their order alternating round to round. On PostgreSQL each child gets a database
of its own, so its ``pg_stat_database.xact_commit`` delta counts its transactions alone
(a child that starts and stops with no saga gives the baseline to subtract). Import times:
fresh interpreters, faaskit's and DBOS's interleaved.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from results_sagas import (
    BACKENDS,
    CONTENDERS,
    DBOS,
    FAASKIT,
    POSTGRES,
    SQLITE,
    ImportRow,
    Row,
    Run,
    SagaResults,
)

HERE = Path(__file__).resolve().parent
DISTRIBUTIONS = ("faaskit", "dbos", "SQLAlchemy", "psycopg")
IMPORTS = {
    FAASKIT: "import faaskit, faaskit.sagas",
    DBOS: "import dbos",
}
IMPORT_CODE = (
    "import time; began = time.perf_counter(); {statement}; "
    "print((time.perf_counter() - began) * 1e3)"
)
CHILD_TIMEOUT = 240


def steps(rounds: int, import_runs: int) -> int:
    """Progress steps of :func:`measure`."""
    return rounds * len(BACKENDS) * len(CONTENDERS) + len(CONTENDERS) + import_runs


def measure(
    found: SagaResults,
    workdir: Path,
    env: Mapping[str, str],
    postgres_url: str,
    *,
    rounds: int,
    runs: tuple[int, int, int],
    import_runs: int,
    advance: Callable[[str], None],
) -> None:
    found.rounds = rounds
    found.warmup, found.sequential, found.inflight = runs
    rows = {(c, b): Row(c, b) for b in BACKENDS for c in CONTENDERS}
    found.rows.extend(rows.values())
    for round_ in range(rounds):
        for backend in BACKENDS:
            order = CONTENDERS if round_ % 2 == 0 else CONTENDERS[::-1]
            for contender in order:
                advance(f"sagas: {contender} + {backend}, round {round_ + 1} of {rounds}")
                row = rows[(contender, backend)]
                if row.error:
                    continue
                try:
                    run, statuses = _one_run(contender, backend, workdir, env, postgres_url, runs)
                except Exception as error:
                    row.error = str(error).strip().splitlines()[-1] if str(error) else repr(error)
                    continue
                row.runs.append(run)
                for status, count in statuses.items():
                    row.statuses[status] = row.statuses.get(status, 0) + count
    for contender in CONTENDERS:
        advance(f"sagas: {contender} + PostgreSQL, idle baseline (no saga)")
        row = rows[(contender, POSTGRES)]
        try:
            run, _ = _one_run(contender, POSTGRES, workdir, env, postgres_url, (0, 0, 0))
            row.baseline_xact = run.xact_commit
        except Exception as error:
            found.notes.append(f"the idle baseline of {contender} failed: {error}")
    found.imports.extend(import_times(env, import_runs, advance))


def _one_run(
    contender: str,
    backend: str,
    workdir: Path,
    env: Mapping[str, str],
    postgres_url: str,
    runs: tuple[int, int, int],
) -> tuple[Run, dict[str, int]]:
    home = workdir / f"{contender.split()[0].lower()}-{backend.lower()}"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    if backend == SQLITE:
        name = "faaskit.db" if contender == FAASKIT else "dbos.sqlite"
        found = _child(contender, f"sqlite:///{home / name}", home, env, runs)
        return Run.from_json(found, runs[0]), found.get("statuses", {})
    with database(postgres_url) as (url, commits):
        before = commits()
        found = _child(contender, url, home, env, runs)
        time.sleep(0.5)  # a backend's statistics reach pg_stat_database when it exits
        run = Run.from_json(found, runs[0])
        run.xact_commit = commits() - before
    return run, found.get("statuses", {})


def _child(
    contender: str, url: str, home: Path, env: Mapping[str, str], runs: tuple[int, int, int]
) -> dict[str, Any]:
    warmup, sequential, inflight = runs
    command = [sys.executable, str(HERE / "sagas.py"), "child", "--contender", contender]
    command += ["--url", url, "--home", str(home), "--warmup", str(warmup)]
    command += ["--sequential", str(sequential), "--inflight", str(inflight)]
    done = subprocess.run(
        command,
        cwd=HERE,
        env={**env, "FAASKIT_HOME": str(home / "home")},
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        check=False,
    )
    (home / "child.log").write_text(done.stderr)
    if done.returncode != 0:
        raise RuntimeError((done.stderr.strip().splitlines() or ["no output"])[-1])
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


@contextmanager
def database(url: str) -> Iterator[tuple[str, Callable[[], int]]]:
    """A database of its own for one child (dropped after), and a reader of its
    ``xact_commit`` (committed transactions, reads included) on a fresh connection."""
    import psycopg

    name = f"faaskit_bench_sagas_{uuid.uuid4().hex[:8]}"
    base, _, query = url.partition("?")
    scoped = f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")

    def commits() -> int:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            row = conn.execute(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (name,)
            ).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    with psycopg.connect(url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield scoped, commits
    finally:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def import_times(
    env: Mapping[str, str], runs: int, advance: Callable[[str], None]
) -> list[ImportRow]:
    """Fresh interpreters, faaskit's import and DBOS's alternating (one discarded run each
    first, which compiles the ``.pyc`` files)."""
    rows = {name: ImportRow(name, statement) for name, statement in IMPORTS.items()}
    for row in rows.values():
        try:
            _import_once(row.statement, env)
        except Exception as error:
            row.error = str(error)
    names = list(rows)
    for sample in range(runs):
        advance(f"sagas: import times, sample {sample + 1} of {runs}")
        for name in names if sample % 2 == 0 else names[::-1]:
            row = rows[name]
            if row.error:
                continue
            try:
                row.samples_ms.append(_import_once(row.statement, env))
            except Exception as error:
                row.error = str(error)
    return list(rows.values())


def _import_once(statement: str, env: Mapping[str, str]) -> float:
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_CODE.format(statement=statement)],
        env=dict(env),
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError((done.stderr.strip().splitlines() or ["no output"])[-1])
    return float(done.stdout.strip().splitlines()[-1])


def child(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sagas.py child")
    parser.add_argument("--contender", choices=CONTENDERS, required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--warmup", type=int, required=True)
    parser.add_argument("--sequential", type=int, required=True)
    parser.add_argument("--inflight", type=int, required=True)
    args = parser.parse_args(argv)
    import saga_sides

    side = saga_sides.faaskit_side if args.contender == FAASKIT else saga_sides.dbos_side
    found = side(args.url, args.home, args.warmup, args.sequential, args.inflight)
    print(json.dumps(found))
    return 0


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["child"]:
        return child(arguments[1:])
    import run  # this section alone, with run.py's options, display and RESULTS.md

    return run.main(["--only", "sagas", *arguments])


if __name__ == "__main__":
    os.environ.setdefault("FAASKIT_LOG_LEVEL", "WARNING")
    sys.exit(main())
