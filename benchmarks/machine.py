"""What the run ran on: date, CPU, Python and library versions, tools, databases."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from results import Machine

HERE = Path(__file__).resolve().parent
DISTRIBUTIONS = (
    "faaskit",
    "starlette",
    "fastapi",
    "aws-lambda-powertools",
    "chalice",
    "uvicorn",
    "uvloop",
    "httptools",
    "pydantic",
    "orjson",
    "psycopg",
    "celery",
    "kombu",
    "redis",
    "eventsourcing",
)


def _command_output(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError:
        return "unknown"
    return (
        (done.stdout or done.stderr).strip().splitlines()[0]
        if (done.stdout or done.stderr)
        else "unknown"
    )


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def versions(
    distributions: Sequence[str] = DISTRIBUTIONS, *, commit: bool = False
) -> dict[str, str]:
    """The installed versions of ``distributions``; with ``commit``, Python's and the
    faaskit commit measured too (a section measured alone says what it measured)."""
    found: dict[str, str] = {"Python": platform.python_version()} if commit else {}
    for name in distributions:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "missing"
    if commit:
        done = subprocess.run(
            [
                "git",
                "-C",
                str(Path(__file__).resolve().parents[1]),
                "describe",
                "--always",
                "--dirty",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        found["faaskit commit"] = done.stdout.strip() or "unknown"
    return found


def postgres_facts(url: str) -> dict[str, str]:
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3) as conn:
            version = conn.execute("SHOW server_version").fetchone()
            commit = conn.execute("SHOW synchronous_commit").fetchone()
        return {
            "PostgreSQL": f"{version[0] if version else '?'} "
            f"(synchronous_commit={commit[0] if commit else '?'})"
        }
    except Exception as error:
        return {"PostgreSQL": f"unavailable ({error})"}


def redis_facts() -> dict[str, str]:
    try:
        import redis

        import celery_side

        client = redis.Redis.from_url(celery_side.BROKER, socket_connect_timeout=3)
        info = client.info("server")
        persistence = client.config_get("appendonly") | client.config_get("save")
        return {
            "Redis": f"{info['redis_version']} at {celery_side.BROKER} (appendonly="
            f"{persistence.get('appendonly', '?')}, save='{persistence.get('save', '?')}')"
        }
    except Exception as error:
        return {"Redis": f"unavailable ({error})"}


def describe(wrk: str | None, postgres_url: str | None, *, redis: bool = False) -> Machine:
    extra = {
        "wrk": _command_output([wrk, "-v"]) if wrk else "missing (Python fallback client)",
        "SQLite": f"{sqlite3.sqlite_version} (WAL, synchronous=normal: faaskit's default)",
        "faaskit commit": _command_output(
            ["git", "-C", str(HERE.parent), "describe", "--always", "--dirty"]
        ),
    }
    if postgres_url is not None:
        extra.update(postgres_facts(postgres_url))
    if redis:
        extra.update(redis_facts())
    return Machine(
        date=_command_output(["date", "-u"]),
        cpu=cpu_model(),
        cores=os.cpu_count() or 0,
        python=platform.python_version(),
        versions=versions(),
        load_before=load_average(),
        extra=extra,
    )
