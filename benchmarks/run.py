"""faaskit side by side with the frameworks a user would pick instead, in one run.

    make bench                               # everything, ~4 minutes
    .venv/bin/python benchmarks/run.py --quick --output /tmp/quick.md   # a smoke run

Sections: hello (faaskit, Starlette, FastAPI, Powertools under the same uvicorn settings),
writes (faaskit POST /items on SQLite and PostgreSQL), import times, start-up to first 200.
Writes benchmarks/RESULTS.md (report.py) and shows progress and tables (display.py).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

import display as terminal
import harness
import imports
import load
import machine
import report
from results import (
    FAASKIT,
    FASTAPI,
    POWERTOOLS,
    RAW_ASGI,
    STARLETTE,
    HttpRow,
    Results,
    Settings,
    StartupRow,
)

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
CONTENDERS = {  # name -> factory in servers.py; Starlette is the anchor
    STARLETTE: "starlette_hello",
    FAASKIT: "faaskit_hello",
    FASTAPI: "fastapi_hello",
    POWERTOOLS: "powertools_hello",
    RAW_ASGI: "raw_asgi_hello",
}
IMPORTED = ("faaskit", "aws_lambda_powertools", "chalice", "faaskit.http.gateway")
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
SECTIONS = ("hello", "writes", "imports", "startup")


@dataclass
class Options:
    connections: int
    warmup: float
    duration: float
    rounds: int
    import_runs: int
    startup_runs: int
    sections: tuple[str, ...]
    postgres_url: str
    output: Path
    loadgen: str


def parse_options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--connections", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds, discarded")
    parser.add_argument("-d", "--duration", type=float, default=10.0, help="seconds measured")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved hello rounds")
    parser.add_argument("--import-runs", type=int, default=7)
    parser.add_argument("--startup-runs", type=int, default=5)
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument(
        "--postgres-url", default=os.environ.get("FAASKIT_BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
    )
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument(
        "--loadgen",
        choices=("auto", "python"),
        default="auto",
        help="auto: wrk (installed with apt-get if missing), else the Python fallback",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 2 s, 1 round, 3 import and start-up runs"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.warmup, args.duration, args.rounds = 1.0, 2.0, 1
        args.import_runs = args.startup_runs = 3
    return Options(
        args.connections,
        args.warmup,
        args.duration,
        args.rounds,
        args.import_runs,
        args.startup_runs,
        tuple(args.only),
        args.postgres_url,
        args.output,
        args.loadgen,
    )


def base_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAASKIT_")}
    env["FAASKIT_LOG_LEVEL"] = "WARNING"
    env.pop("WEB_CONCURRENCY", None)
    return env


def server_environment(name: str, **extra: str) -> dict[str, str]:
    home = WORK / name
    home.mkdir(parents=True, exist_ok=True)
    return {**base_environment(), "FAASKIT_HOME": str(home), **extra}


# --- the sections -------------------------------------------------------------------------


class Bench:
    """One run: its options, the load generator, the pinning, and the results so far."""

    def __init__(
        self,
        options: Options,
        results: Results,
        wrk: str | None,
        pin: harness.Pinning,
        advance: Callable[[str], None],
    ) -> None:
        self.options = options
        self.results = results
        self.wrk = wrk
        self.pin = pin
        self.advance = advance

    def timed_load(self, port: int, request: load.Load) -> tuple[load.LoadResult, int]:
        """The measured run after a discarded warm-up, and how many 2xx both got."""
        url = f"http://{harness.HOST}:{port}"
        o = self.options
        runs = [
            load.run_load(
                self.wrk,
                url,
                request,
                connections=o.connections,
                seconds=seconds,
                cpu=self.pin.load,
            )
            for seconds in (o.warmup, o.duration)
        ]
        return runs[1], sum(run.requests - run.errors for run in runs)

    def hello(self) -> None:
        rows = {name: HttpRow(name) for name in CONTENDERS}
        self.results.hello.extend(rows.values())
        for round_ in range(1, self.options.rounds + 1):
            for name, factory in CONTENDERS.items():
                self.advance(f"hello: {name} round {round_}")
                row = rows[name]
                if row.error:
                    continue
                env = server_environment(f"hello-{factory}")
                try:
                    with harness.serve(
                        factory, env, self.pin.server, WORK / f"{factory}.log"
                    ) as port:
                        harness.check_hello(port)
                        row.rounds.append(self.timed_load(port, load.HELLO)[0])
                except Exception as error:
                    row.error = str(error).splitlines()[0]
                    self.results.log.append(f"hello {name}: {error}")

    def writes(self) -> None:
        self.advance("writes: faaskit + SQLite")
        db = WORK / "writes-sqlite" / "bench.db"
        self._write_run("faaskit + SQLite", f"sqlite:///{db}", lambda: _sqlite_rows(db))
        self.advance("writes: faaskit + PostgreSQL")
        try:
            with postgres_schema(self.options.postgres_url) as (url, count):
                self._write_run("faaskit + PostgreSQL", url, count)
        except Exception as error:
            self.results.writes.append(HttpRow("faaskit + PostgreSQL", error=str(error)))
            self.results.log.append(f"writes PostgreSQL: {error}")

    def _write_run(self, name: str, database_url: str, count: Callable[[], int]) -> None:
        row = HttpRow(name)
        self.results.writes.append(row)
        env = server_environment(
            f"writes-{name.split()[-1].lower()}", FAASKIT_DATABASE_URL=database_url
        )
        try:
            with harness.serve(
                "faaskit_items",
                env,
                self.pin.server,
                WORK / f"items-{name.split()[-1].lower()}.log",
            ) as port:
                harness.check_items(port)
                measured, answered = self.timed_load(port, load.ITEMS)
                row.rounds.append(measured)
                row.answered = answered + 1  # the probe
            row.rows_written = count()
        except Exception as error:
            row.error = str(error).splitlines()[0]
            self.results.log.append(f"writes {name}: {error}")

    def imports(self) -> None:
        env, cpu, runs = base_environment(), self.pin.server, self.options.import_runs
        self.advance("imports: empty interpreter")
        baseline = imports.empty_interpreter_ms(env, cpu, runs)
        for module in IMPORTED:
            self.advance(f"imports: {module}")
            try:
                self.results.imports.append(
                    imports.import_time(module, env, cpu, runs=runs, baseline_ms=baseline)
                )
            except Exception as error:
                self.results.import_errors[module] = str(error).splitlines()[0]

    def startup(self) -> None:
        for name, factory in CONTENDERS.items():
            row = StartupRow(name)
            self.results.startup.append(row)
            env = server_environment(f"startup-{factory}")
            for run in range(1, self.options.startup_runs + 1):
                self.advance(f"start-up: {name} run {run}")
                try:
                    row.seconds.append(
                        harness.time_to_first_200(
                            factory, env, self.pin.server, WORK / f"startup-{factory}"
                        )
                    )
                except Exception as error:
                    row.error = str(error).splitlines()[0]
                    break

    def steps(self) -> int:
        o = self.options
        counts = {
            "hello": o.rounds * len(CONTENDERS),
            "writes": 2,
            "imports": 1 + len(IMPORTED),
            "startup": o.startup_runs * len(CONTENDERS),
        }
        return sum(counts[section] for section in o.sections)


def _sqlite_rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT count(*) FROM faaskit_documents WHERE collection = 'items'"
        ).fetchone()
    return int(row[0])


@contextmanager
def postgres_schema(url: str) -> Iterator[tuple[str, Callable[[], int]]]:
    """A fresh schema for one run, dropped after: (URL that selects it, row counter)."""
    import psycopg

    schema = f"faaskit_bench_{uuid.uuid4().hex[:8]}"
    separator = "&" if "?" in url else "?"
    scoped = f"{url}{separator}options=-csearch_path%3D{schema}"

    def count() -> int:
        with psycopg.connect(scoped) as conn:
            row = conn.execute(
                "SELECT count(*) FROM faaskit_documents WHERE collection = 'items'"
            ).fetchone()
        return int(row[0]) if row else 0

    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")  # type: ignore[arg-type]
    try:
        yield scoped, count
    finally:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")  # type: ignore[arg-type]


# --- the run ------------------------------------------------------------------------------


def prepare_workdir() -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)


def run(options: Options, console: Console) -> Results:
    prepare_workdir()
    log: list[str] = []
    wrk = load.find_wrk(log) if options.loadgen == "auto" else None
    if wrk is None:
        console.print(
            "[yellow]wrk is not available: using the Python fallback client "
            "(numbers labelled python-loadgen, not comparable with wrk)[/]"
        )
    pin = harness.pinning()
    settings = Settings(
        options.connections,
        options.warmup,
        options.duration,
        options.rounds,
        options.import_runs,
        options.startup_runs,
        load.WRK if wrk else load.PYTHON_LOADGEN,
        pin.description,
        " ".join(harness.UVICORN_FLAGS),
    )
    postgres = options.postgres_url if "writes" in options.sections else None
    results = Results(machine.describe(wrk, postgres), settings, log=log)
    with terminal.Display(console, results) as display:
        bench = Bench(options, results, wrk, pin, display.step)
        display.start(bench.steps())
        for section in SECTIONS:
            if section in options.sections:
                getattr(bench, section)()
        display.finish()
    console.print()
    results.machine.load_after = machine.load_average()
    return results


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    console = Console()
    results = run(options, console)
    options.output.write_text(report.markdown(results))
    for table in terminal.final_tables(results):
        console.print(table)
    console.print(f"wrote {options.output}")
    failed = [row.name for row in results.hello + results.writes if row.error]
    if failed:
        console.print(f"[red]failed: {', '.join(failed)} (see {options.output})[/]")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
