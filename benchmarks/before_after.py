"""faaskit at a base revision (before) and as the working tree stands (after), side by side.

    .venv/bin/python benchmarks/before_after.py --base f577020
    .venv/bin/python benchmarks/before_after.py --base f577020 --rounds 1 -d 2   # a smoke run

Not part of ``make bench``. Measures ``GET /hello`` and ``POST /items`` writes on SQLite and
PostgreSQL with the apps of ``servers.py``, uvicorn's flags and the pinning of ``run.py``:
in each round every case runs once per side (before, after, before, after, ...), each run in
a fresh server process and a fresh store; the row of a side is its median round by req/s.

The base revision is checked out in a git worktree (``--worktree``, default a temporary
folder; removed afterwards unless it existed) and served from that source tree through
``PYTHONPATH``, with this venv's dependencies. Each side runs as faaskit serves at its
revision: faaskit's own protocol (``serve_faaskit.py``) when the revision has
``faaskit.serving.uvicorn_config``, else plain ``--http httptools``. ``--plain-after`` adds
the working tree under plain httptools to the hello case: the protocol's share of the cost.
Prints a markdown table (also written to ``--output``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import harness
import load
import machine
import stores
from run import DEFAULT_POSTGRES, WORK, server_environment

REPO = harness.HERE.parent
FOLDER = "before-after"
"""Under ``run.py``'s ignored work folder; emptied at the start of a comparison."""


@dataclass(frozen=True)
class Side:
    name: str
    source: Path
    """The ``src`` folder put first on ``PYTHONPATH``."""
    protocol: str


@dataclass
class Row:
    case: str
    side: Side
    rounds: list[load.LoadResult] = field(default_factory=list)
    error: str = ""

    @property
    def median(self) -> load.LoadResult | None:
        if not self.rounds:
            return None
        ordered = sorted(self.rounds, key=lambda run: run.rps)
        return ordered[(len(ordered) - 1) // 2]


def git(*arguments: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(REPO), *arguments], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@contextmanager
def worktree(rev: str, path: Path | None) -> Iterator[Path]:
    """A checkout of ``rev``: ``path`` when it already holds that commit, else a new one."""
    commit = git("rev-parse", "--verify", f"{rev}^{{commit}}")
    if path is not None and path.exists():
        found = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        if found != commit:
            raise SystemExit(f"{path} holds {found or 'no checkout'}, not {rev} ({commit})")
        yield path
        return
    folder = path or Path(tempfile.mkdtemp(prefix="faaskit-base-")) / "tree"
    git("worktree", "add", "--detach", str(folder), commit)
    try:
        yield folder
    finally:
        git("worktree", "remove", "--force", str(folder))


def protocol_at(source: Path) -> str:
    serving = source / "faaskit" / "serving.py"
    has_config = serving.exists() and "def uvicorn_config(" in serving.read_text()
    return harness.FAASKIT_PROTOCOL if has_config else harness.HTTPTOOLS


class Comparison:
    def __init__(self, args: argparse.Namespace, wrk: str | None) -> None:
        self.args = args
        self.wrk = wrk
        self.pin = harness.pinning()

    def measure(self, row: Row, factory: str, tag: str, database_url: str = "") -> None:
        side = row.side
        extra = {"PYTHONPATH": str(side.source)}
        if database_url:
            extra["FAASKIT_DATABASE_URL"] = database_url
        env = server_environment(f"{FOLDER}/{tag}", **extra)
        log = WORK / FOLDER / f"{tag}.log"
        check = harness.check_items if database_url else harness.check_hello
        request = load.ITEMS if database_url else load.HELLO
        try:
            with harness.serve(factory, env, self.pin.server, log, protocol=side.protocol) as port:
                check(port)
                url = f"http://{harness.HOST}:{port}"
                for seconds in (self.args.warmup, self.args.duration):
                    found = load.run_load(
                        self.wrk,
                        url,
                        request,
                        connections=self.args.connections,
                        seconds=seconds,
                        cpu=self.pin.load,
                    )
                row.rounds.append(found)
        except Exception as error:
            row.error = str(error).splitlines()[0]
            print(f"  {row.case} / {side.name}: {error}", file=sys.stderr)

    def run(self, sides: list[Side], plain_after: Side | None) -> list[Row]:
        """Every round runs every case on every side, in the order of the rows."""
        cases: list[tuple[Row, Callable[[Row], None]]] = []
        for side in sides + ([plain_after] if plain_after else []):
            cases.append((Row("GET /hello", side), self.hello))
        for backend in (stores.SQLITE, stores.POSTGRES):
            write = partial(self.writes, backend)
            cases += [(Row(f"POST /items, {backend}", side), write) for side in sides]
        for round_ in range(1, self.args.rounds + 1):
            for row, run_case in cases:
                print(f"round {round_}: {row.case} / {row.side.name}", file=sys.stderr)
                run_case(row)
        return [row for row, _ in cases]

    def hello(self, row: Row) -> None:
        self.measure(row, "faaskit_hello", f"hello-{_slug(row.side.name)}")

    def writes(self, backend: str, row: Row) -> None:
        """One write run in a fresh store: a new SQLite file or PostgreSQL schema."""
        tag = f"items-{backend.lower()}-{_slug(row.side.name)}"
        try:
            if backend == stores.SQLITE:
                with stores.sqlite(WORK / FOLDER / tag / "store") as db:
                    self.measure(row, "faaskit_items", tag, db.url)
            else:
                with stores.postgres(self.args.postgres_url) as db:
                    self.measure(row, "faaskit_items", tag, db.url)
        except Exception as error:
            row.error = str(error).splitlines()[0]


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower())


def markdown(rows: list[Row], facts: dict[str, str]) -> str:
    lines = [f"- {key}: {value}" for key, value in facts.items()]
    lines += [
        "",
        "| case | side | protocol | req/s | p50 ms | p99 ms | after/before req/s "
        "| rounds req/s | errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    before: dict[str, float] = {}
    for row in rows:
        found = row.median
        if found is None:
            lines.append(f"| {row.case} | {row.side.name} | | | | | | | {row.error} |")
            continue
        before.setdefault(row.case, found.rps)
        ratio = found.rps / before[row.case]
        rounds = " / ".join(f"{run.rps:,.0f}" for run in row.rounds)
        errors = sum(run.errors for run in row.rounds)
        lines.append(
            f"| {row.case} | {row.side.name} | {row.side.protocol} | {found.rps:,.0f} "
            f"| {found.p50_ms:.2f} | {found.p99_ms:.2f} | {ratio:.2f}x | {rounds} "
            f"| {errors}{' ' + row.error if row.error else ''} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the revision measured as 'before'")
    parser.add_argument("--worktree", type=Path, help="where the base is checked out")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("-c", "--connections", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("-d", "--duration", type=float, default=10.0)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--plain-after", action="store_true", help="also after, plain httptools")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    log: list[str] = []
    wrk = load.find_wrk(log)
    shutil.rmtree(WORK / FOLDER, ignore_errors=True)
    (WORK / FOLDER).mkdir(parents=True)
    load_before = machine.load_average()
    head = REPO / "src"
    with worktree(args.base, args.worktree) as tree:
        base_source = tree / "src"
        sides = [
            Side(f"before ({args.base})", base_source, protocol_at(base_source)),
            Side("after (working tree)", head, protocol_at(head)),
        ]
        plain = Side("after, plain httptools", head, harness.HTTPTOOLS)
        rows = Comparison(args, wrk).run(sides, plain if args.plain_after else None)
    facts = {
        "base": f"{args.base} = {git('rev-parse', '--short', args.base)}",
        "after": f"{git('rev-parse', '--short', 'HEAD')}"
        + ("-dirty" if git("status", "--porcelain", "--", "src") else ""),
        "load average": f"before {load_before}, after {machine.load_average()}",
        "load": f"{load.WRK if wrk else load.PYTHON_LOADGEN}, {args.connections} connections, "
        f"{args.warmup:g} s warm-up, {args.duration:g} s measured, {args.rounds} round(s); "
        f"the median round by req/s",
        "pinning": harness.pinning().description,
        "cores": str(len(os.sched_getaffinity(0))),
    }
    text = markdown(rows, facts)
    print(text)
    if args.output:
        args.output.write_text(text)
    return 1 if any(row.error for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
