"""faaskit side by side with the frameworks a user would pick instead, in one run.

    make bench                               # everything, ~9 minutes
    .venv/bin/python benchmarks/run.py --quick --output /tmp/quick.md   # a smoke run

Sections: hello (faaskit, Starlette, FastAPI, Powertools under the same uvicorn settings),
writes (faaskit POST /items on SQLite and PostgreSQL), import times, start-up to first 200,
adapters (Lambda HTTP events in-process: faaskit, Powertools, Chalice, Mangum; per event and
cold start; `--only adapters` or `benchmarks/adapters.py` updates only its section),
coldstart (the shop's first authenticated request in fresh processes, direct and over HTTP,
cold and warm, beside Powertools' and Chalice's import times; `--only coldstart` updates
only its section),
messaging (faaskit workers on SQLite and PostgreSQL vs Celery on Redis vs raw inserts, then
one worker each on PostgreSQL vs PgQueuer in interleaved rounds; `--only messaging` updates
only its section),
cqrs (faaskit aggregates, projections and search vs the eventsourcing library),
sagas (a 4-step saga on SQLite and PostgreSQL vs DBOS Transact; `--only sagas` or
`benchmarks/sagas.py` updates only its section).
Writes benchmarks/RESULTS.md (report.py) and shows progress and tables (display.py).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console

import adapters
import coldstart
import cqrs
import display as terminal
import harness
import imports
import load
import machine
import messaging
import report
import report_adapters
import report_coldstart
import report_messaging
import report_sagas
import sagas
import stores
from results import (
    FAASKIT,
    FAASKIT_NO_METRICS,
    FAASKIT_NO_RECORDS,
    FAASKIT_TRACING,
    FASTAPI,
    POWERTOOLS,
    RAW_ASGI,
    STARLETTE,
    HttpRow,
    Results,
    Settings,
    StartupRow,
    splice,
)
from results_adapters import AdapterResults
from results_cqrs import (
    EVENTSOURCING,
    EVENTSOURCING_FULL,
    EventsRow,
    SearchRow,
    SearchRun,
)
from results_cqrs import FAASKIT as FAASKIT_SQLITE
from results_messaging import (
    CELERY,
    RAW_PSYCOPG,
    RAW_SQLITE,
    LatencyRow,
    RawRow,
    ThroughputRow,
)
from results_messaging import FAASKIT as FAASKIT_WORKER
from results_sagas import SagaResults

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
CONTENDERS = {  # name -> factory in servers.py; Starlette is the anchor
    STARLETTE: "starlette_hello",
    FAASKIT: "faaskit_hello",
    FAASKIT_NO_RECORDS: "faaskit_hello_no_records",
    FAASKIT_NO_METRICS: "faaskit_hello_no_metrics",
    FAASKIT_TRACING: "faaskit_hello_tracing",
    FASTAPI: "fastapi_hello",
    POWERTOOLS: "powertools_hello",
    RAW_ASGI: "raw_asgi_hello",
}
IMPORTED = ("faaskit", "aws_lambda_powertools", "chalice", "faaskit.http.gateway")
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
SECTIONS = (
    "hello",
    "writes",
    "imports",
    "startup",
    "adapters",
    "coldstart",
    "messaging",
    "cqrs",
    "sagas",
)
USES_POSTGRES = {"writes", "messaging", "cqrs", "sagas"}
COLD_WARM_REQUESTS = 200
"""Warm requests after the first in each cold-start sample."""


@dataclass
class Sizes:
    """How much each messaging and CQRS measurement does (smaller with --quick)."""

    messages: int = 20_000
    """faaskit on SQLite; PostgreSQL and Celery drain far slower, so they get fewer."""
    postgres_messages: int = 5_000
    celery_messages: int = 4_000
    processes: tuple[int, ...] = (1, 2, 4)
    latency_samples: int = 150
    raw_rows: int = 100_000
    aggregates: int = 10_000
    one_by_one: int = 2_000
    documents: int = 100_000
    queries: int = 200
    query_deadline: float = 2.0
    adapter_rounds: int = 15
    """Interleaved per-event rounds of the adapters section (its cold-start samples are
    the import runs)."""
    adapter_events: int = 2_000
    """Events per contender per round."""
    saga_rounds: int = 3
    saga_runs: tuple[int, int, int] = (10, 100, 100)
    """Sagas per run of the sagas section: warm-up, (a) one at a time, (b) in flight."""
    postgres_rounds: int = 3
    """Interleaved rounds of the one-worker head-to-head on PostgreSQL (faaskit, PgQueuer)."""

    @classmethod
    def quick(cls) -> Sizes:
        sizes = cls(4_000, 1_000, 1_000, (1, 2), 30, 20_000, 2_000, 500, 10_000, 40, 2.0, 3, 300)
        sizes.saga_rounds, sizes.saga_runs = 1, (3, 20, 20)
        sizes.postgres_rounds = 2  # both orders
        return sizes


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
    sizes: Sizes = field(default_factory=Sizes)


def parse_options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--connections", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds, discarded")
    parser.add_argument("-d", "--duration", type=float, default=10.0, help="seconds measured")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved hello rounds")
    parser.add_argument("--import-runs", type=int, default=7)
    parser.add_argument("--startup-runs", type=int, default=5)
    parser.add_argument(
        "--adapter-rounds", type=int, help="interleaved per-event rounds (default 15; quick 3)"
    )
    parser.add_argument(
        "--adapter-events", type=int, help="events per contender per round (default 2,000)"
    )
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
        "--quick",
        action="store_true",
        help="a smoke run: 2 s, 1 round, 3 import and start-up runs, small messaging and CQRS",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.warmup, args.duration, args.rounds = 1.0, 2.0, 1
        args.import_runs = args.startup_runs = 3
    sizes = Sizes.quick() if args.quick else Sizes()
    sizes.adapter_rounds = args.adapter_rounds or sizes.adapter_rounds
    sizes.adapter_events = args.adapter_events or sizes.adapter_events
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
        sizes,
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
        self.adapters_found = AdapterResults()
        self.sagas_found = SagaResults()

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
            with stores.postgres(self.options.postgres_url) as pg:
                self._write_run("faaskit + PostgreSQL", pg.url, lambda: pg.documents("items"))
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

    def adapters(self) -> None:
        """Lambda HTTP adapters in-process: per-event dispatch, then the cold-start proxy."""
        found, sizes = self.adapters_found, self.options.sizes
        found.date = adapters.utc_now()
        found.load_before = machine.load_average()
        found.pinning = f"`{' '.join(self.pin.server)}`" if self.pin.server else "none"
        found.versions = machine.versions(adapters.DISTRIBUTIONS, commit=True)
        found.machine = f"{machine.cpu_model()}, {os.cpu_count()} cores"
        try:
            adapters.measure(
                found,
                WORK / "adapters",
                base_environment(),
                self.pin.server,
                rounds=sizes.adapter_rounds,
                events=sizes.adapter_events,
                samples=self.options.import_runs,
                advance=self.advance,
            )
        except Exception as error:
            self.results.log.append(f"adapters: {error}")
            found.notes.append(f"the section failed: {error}")
        found.load_after = machine.load_average()

    def coldstart(self) -> None:
        """The shop's first request in fresh processes, beside Powertools' and Chalice's
        imports (``startup_runs`` samples per variant, 200 warm requests each)."""
        found = self.results.coldstart
        found.date = adapters.utc_now()
        found.load_before = machine.load_average()
        found.pinning = f"`{' '.join(self.pin.server)}`" if self.pin.server else "none"
        found.versions = machine.versions(coldstart.DISTRIBUTIONS, commit=True)
        found.machine = f"{machine.cpu_model()}, {os.cpu_count()} cores"
        try:
            coldstart.measure(
                found,
                WORK / "coldstart",
                base_environment(),
                self.pin.server,
                samples=self.options.startup_runs,
                warm=COLD_WARM_REQUESTS,
                import_runs=self.options.import_runs,
                advance=self.advance,
            )
        except Exception as error:
            self.results.log.append(f"coldstart: {error}")
            found.notes.append(f"the section failed: {error}")
        found.load_after = machine.load_average()

    def messaging(self) -> None:
        """Throughput (interleaved by worker processes), latency, then the raw limit."""
        found, sizes, url = self.results.messaging, self.options.sizes, self.options.postgres_url
        work = WORK / "messaging"
        found.date, found.load_before = adapters.utc_now(), machine.load_average()
        found.versions = machine.versions(messaging.DISTRIBUTIONS, commit=True)
        for processes in sizes.processes:
            for backend in (stores.SQLITE, stores.POSTGRES):
                self.advance(f"messaging: faaskit + {backend}, {processes} worker process(es)")
                failed = ThroughputRow(FAASKIT_WORKER, backend, processes)
                measure = partial(self._faaskit_throughput, backend, processes)
                self._measure(found.throughput, failed, measure)
            self.advance(f"messaging: Celery + Redis, {processes} worker process(es)")
            failed = ThroughputRow(CELERY, "Redis", processes)
            measure = partial(
                messaging.celery_throughput,
                processes,
                sizes.celery_messages,
                work / f"celery-{processes}",
            )
            self._measure(found.throughput, failed, measure)
        for round_ in range(1, sizes.postgres_rounds + 1):
            head = work / "one-worker"
            runs = messaging.head_to_head(
                url, round_, sizes.postgres_messages, sizes.celery_messages, head
            )
            for failed, measured in runs:
                self.advance(f"messaging: one worker, {failed.name}, round {round_}")
                self._measure(found.throughput, failed, measured)
        samples = sizes.latency_samples
        for backend, in_process in (
            (stores.SQLITE, False),
            (stores.SQLITE, True),
            (stores.POSTGRES, False),
        ):
            self.advance(f"messaging: latency, faaskit + {backend}")
            failed_latency = LatencyRow(
                f"faaskit + {backend}", "in-process" if in_process else "worker"
            )

            def latency(backend: str = backend, in_process: bool = in_process) -> LatencyRow:
                with self._store(backend, "latency") as db:
                    return messaging.faaskit_latency(
                        db, work / "latency", samples, in_process=in_process
                    )

            self._measure(found.latency, failed_latency, latency)
        self.advance("messaging: latency, Celery + Redis")
        self._measure(
            found.latency,
            LatencyRow("Celery + Redis", "worker"),
            lambda: messaging.celery_latency(work / "celery-latency", samples),
        )
        self.advance("messaging: raw inserts (sqlite3, psycopg)")
        raw_sqlite = partial(messaging.raw_sqlite, work / "raw", sizes.raw_rows)
        self._measure(found.raw, RawRow(RAW_SQLITE, ""), raw_sqlite)
        raw_postgres = partial(messaging.raw_postgres, url, sizes.raw_rows // 2)
        self._measure(found.raw, RawRow(RAW_PSYCOPG, ""), raw_postgres)
        found.load_after = machine.load_average()

    def sagas(self) -> None:
        """faaskit's saga engine vs DBOS Transact, interleaved child runs per round."""
        found, sizes = self.sagas_found, self.options.sizes
        found.date = adapters.utc_now()
        found.load_before = machine.load_average()
        found.versions = machine.versions(sagas.DISTRIBUTIONS, commit=True)
        found.machine = f"{machine.cpu_model()}, {os.cpu_count()} cores"
        try:
            sagas.measure(
                found,
                WORK / "sagas",
                base_environment(),
                self.options.postgres_url,
                rounds=sizes.saga_rounds,
                runs=sizes.saga_runs,
                import_runs=self.options.import_runs,
                advance=self.advance,
            )
        except Exception as error:
            self.results.log.append(f"sagas: {error}")
            found.notes.append(f"the section failed: {error}")
        found.load_after = machine.load_average()

    def _store(self, backend: str, name: str) -> AbstractContextManager[stores.Database]:
        if backend == stores.SQLITE:
            return stores.sqlite(WORK / "messaging" / f"{name}-store")
        return stores.postgres(self.options.postgres_url)

    def _faaskit_throughput(self, backend: str, processes: int) -> ThroughputRow:
        sizes = self.options.sizes
        count = sizes.messages if backend == stores.SQLITE else sizes.postgres_messages
        workdir = WORK / "messaging" / f"{backend.lower()}-{processes}"
        with self._store(backend, f"throughput-{processes}") as db:
            return messaging.faaskit_throughput(db, processes, count, workdir)

    def cqrs(self) -> None:
        found, sizes = self.results.cqrs, self.options.sizes
        work = WORK / "cqrs"
        self.advance("cqrs: faaskit aggregates and projection (SQLite)")
        setup = "in-process Runtime + Worker; (a) 256 invocations in flight"
        failed = EventsRow(FAASKIT_SQLITE, setup)

        def faaskit_events() -> EventsRow:
            home = work / "faaskit"
            shutil.rmtree(home, ignore_errors=True)
            arguments = ["events", "--database-url", f"sqlite:///{home / 'events.db'}"]
            arguments += ["--home", str(home), "--aggregates", str(sizes.aggregates)]
            arguments += ["--one-by-one", str(sizes.one_by_one)]
            return EventsRow.from_json(FAASKIT_SQLITE, setup, cqrs.run_script("cqrs.py", arguments))

        self._measure(found.events, failed, faaskit_events)
        for name, mode, count, only in (
            (EVENTSOURCING, "normal", sizes.aggregates, []),
            (EVENTSOURCING_FULL, "full", max(1, sizes.aggregates // 5), ["--create-only"]),
        ):
            self.advance(f"cqrs: {name}")
            es_setup = f"synchronous={mode.upper()}" + (", (a) only" if only else "")
            failed = EventsRow(name, es_setup)

            def es_events(
                name: str = name,
                mode: str = mode,
                count: int = count,
                only: list[str] = only,
                setup: str = es_setup,
            ) -> EventsRow:
                arguments = ["--folder", str(work / f"es-{mode}"), "--aggregates", str(count)]
                arguments += ["--synchronous", mode, *only]
                found_json = cqrs.run_script("es_side.py", arguments)
                return EventsRow.from_json(name, setup, found_json)

            self._measure(found.events, failed, es_events)
        for backend in (stores.SQLITE, stores.POSTGRES):
            self.advance(f"cqrs: search over {sizes.documents:,} documents, {backend}")
            failed_search = SearchRow(f"faaskit + {backend}")
            self._measure(found.search, failed_search, partial(self._search, backend))

    def _search(self, backend: str) -> SearchRow:
        sizes = self.options.sizes
        home = WORK / "cqrs" / f"search-{backend.lower()}"
        arguments = ["--home", str(home), "--documents", str(sizes.documents)]
        arguments += ["--queries", str(sizes.queries), "--deadline", str(sizes.query_deadline)]
        with self._search_store(backend, home) as url:
            found = cqrs.run_script(
                "cqrs.py", ["search", "--database-url", url, *arguments, "--analyze"]
            )
        row = SearchRow(f"faaskit + {backend}", found["documents"], found["seed_seconds"])
        row.default = SearchRun.from_json(found["default"])
        if "analyzed" in found:
            row.analyzed = SearchRun.from_json(found["analyzed"])
        return row

    @contextmanager
    def _search_store(self, backend: str, home: Path) -> Iterator[str]:
        if backend == stores.SQLITE:
            shutil.rmtree(home, ignore_errors=True)
            yield f"sqlite:///{home / 'search.db'}"
            return
        deadline_ms = int(self.options.sizes.query_deadline * 1000)
        with stores.postgres(self.options.postgres_url) as db:
            yield f"{db.url}%20-cstatement_timeout%3D{deadline_ms}"

    def _measure(self, rows: list[Any], failed: Any, measure: Callable[[], Any]) -> None:
        """Append what ``measure`` found (a row or a list of rows), else ``failed`` with
        the error, which also goes to the run log."""
        try:
            found = measure()
        except Exception as error:
            failed.error = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            self.results.log.append(f"{failed.name}: {error}")
            found = failed
        rows.extend(found if isinstance(found, list) else [found])

    def steps(self) -> int:
        o = self.options
        counts = {
            "hello": o.rounds * len(CONTENDERS),
            "writes": 2,
            "imports": 1 + len(IMPORTED),
            "startup": o.startup_runs * len(CONTENDERS),
            "adapters": adapters.steps(o.sizes.adapter_rounds, o.import_runs),
            "coldstart": coldstart.steps(o.startup_runs, o.import_runs),
            "messaging": 3 * len(o.sizes.processes)
            + o.sizes.postgres_rounds * messaging.HEAD_TO_HEAD
            + 4
            + 1,
            "cqrs": 3 + 2,
            "sagas": sagas.steps(o.sizes.saga_rounds, o.import_runs),
        }
        return sum(counts[section] for section in o.sections)


def _sqlite_rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT count(*) FROM faaskit_documents WHERE collection = 'items'"
        ).fetchone()
    return int(row[0])


# --- the run ------------------------------------------------------------------------------


def prepare_workdir() -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)


def run(options: Options, console: Console) -> tuple[Results, AdapterResults, SagaResults]:
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
        harness.PROTOCOLS,
    )
    postgres = options.postgres_url if USES_POSTGRES & set(options.sections) else None
    redis = "messaging" in options.sections
    results = Results(machine.describe(wrk, postgres, redis=redis), settings, log=log)
    found = AdapterResults()
    saga_found = SagaResults()
    with report_adapters.Display(console, results, found) as display:
        bench = Bench(options, results, wrk, pin, display.step)
        bench.adapters_found = found
        bench.sagas_found = saga_found
        display.start(bench.steps())
        for section in SECTIONS:
            if section in options.sections:
                getattr(bench, section)()
        display.finish()
    console.print()
    results.machine.load_after = machine.load_average()
    return results, found, saga_found


ALONE = {"adapters", "sagas", "messaging", "coldstart"}
"""Sections a run of their own splices into the RESULTS.md already there."""


def markdown(
    options: Options, results: Results, found: AdapterResults, saga_found: SagaResults
) -> str:
    """RESULTS.md: the whole report, with the adapters, cold-start and sagas sections when
    they ran; a run of only those replaces just their sections of the file already there."""
    section = report_adapters.section(found, report._table) if found.dispatch else []
    saga_section = report_sagas.section(saga_found, report._table) if saga_found.rows else []
    if set(options.sections) <= ALONE and options.output.exists():
        text = options.output.read_text()
        if "messaging" in options.sections:
            text = splice(text, "## Messaging", report_messaging.section(results, report._table))
    else:
        text = report.markdown(results)
    text = splice(text, "## Adapters", section) if section else text
    if results.coldstart.rows:
        cold = report_coldstart.section(results.coldstart, report._table)
        text = splice(text, report_coldstart.PREFIX, cold)
    return splice(text, "## Sagas", saga_section) if saga_section else text


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    console = Console()
    results, found, saga_found = run(options, console)
    options.output.write_text(markdown(options, results, found, saga_found))
    if not set(options.sections) <= ALONE or "messaging" in options.sections:
        for table in terminal.final_tables(results):
            console.print(table)
    for table in report_adapters.terminal_tables(found):
        console.print(table)
    for table in report_sagas.terminal_tables(saga_found):
        console.print(table)
    cold_table = report_coldstart.terminal_table(results.coldstart)
    if cold_table is not None:
        console.print(cold_table)
    console.print(f"wrote {options.output}")
    failed = [row.name for row in results.hello + results.writes if row.error]
    failed += terminal.failed_rows(results)
    failed += [f"adapters {row.name}" for row in [*found.dispatch, *found.cold] if row.error]
    failed += [f"sagas {row.name}" for row in saga_found.rows if row.error]
    failed += [f"coldstart {row.name}" for row in results.coldstart.rows if row.error]
    if failed:
        console.print(f"[red]failed: {', '.join(failed)} (see {options.output})[/]")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
