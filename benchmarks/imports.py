"""Import cost of a package in a fresh interpreter, measured two ways.

- ``-X importtime``: the cumulative microseconds that CPython reports for the top-level
  module (``import time: self | cumulative | name``); excludes interpreter start-up.
- wall time: ``python -c "import X"`` minus ``python -c "pass"``, each timed from spawn to exit.

Each is the median of ``runs`` runs, after one discarded run that warms the bytecode cache.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass

_IMPORTTIME = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class ImportTime:
    module: str
    importtime_ms: float
    """Median cumulative ``-X importtime`` of the top-level module."""
    wall_ms: float
    """Median wall time of ``import X`` minus the median of an empty interpreter."""
    runs: int


def cumulative_ms(stderr: str, module: str) -> float:
    """The cumulative time of ``module`` at the outermost level of an importtime report."""
    found = [
        (len(indent), int(cumulative))
        for _, cumulative, indent, name in _IMPORTTIME.findall(stderr)
        if name == module
    ]
    if not found:
        raise ValueError(f"{module} is not in the -X importtime report")
    return min(found)[1] / 1e3


def _importtime_once(module: str, env: Mapping[str, str], cpu: list[str]) -> float:
    done = subprocess.run(
        [*cpu, sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        env=dict(env),
        check=True,
    )
    return cumulative_ms(done.stderr, module)


def _wall_once(code: str, env: Mapping[str, str], cpu: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([*cpu, sys.executable, "-c", code], env=dict(env), check=True)
    return (time.perf_counter() - started) * 1e3


def empty_interpreter_ms(env: Mapping[str, str], cpu: list[str], runs: int) -> float:
    _wall_once("pass", env, cpu)
    return statistics.median(_wall_once("pass", env, cpu) for _ in range(runs))


def import_time(
    module: str, env: Mapping[str, str], cpu: list[str], *, runs: int, baseline_ms: float
) -> ImportTime:
    _wall_once(f"import {module}", env, cpu)  # compiles .pyc files once, not timed
    cumulative = statistics.median(_importtime_once(module, env, cpu) for _ in range(runs))
    wall = statistics.median(_wall_once(f"import {module}", env, cpu) for _ in range(runs))
    return ImportTime(module, cumulative, wall - baseline_ms, runs)
