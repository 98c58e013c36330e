"""The summary of issue 10's aims at the top of RESULTS.md, rebuilt from the file's own
section verdict rows.

Why from the file and not from a run's results: a run of some sections alone (`run.py --only
messaging`, `adapters`, `sagas`) splices just those sections into the RESULTS.md already
there, and keeps no results of the others (run.py stores no JSON). Reading the verdict rows
that the file holds is the one way that is right for a full run and a partial one alike: the
summary always agrees with the sections below it, whichever run wrote each. ``refresh`` runs
at the end of ``report.markdown`` and after every ``results.splice``, so each way of writing
the file rebuilds it. The rows are found by their exact aim cell (``results_aims.Aim.row``),
which the section renderers write from the same constants.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import results_aims
from results import fmt_verdict, md_table
from results_aims import Aim

HEADING = "## Aims of the performance issue (issue 10)"
INTRO = (
    "Every ratio that issue 10 names, each measured in one run, with its verdict: copied from "
    "the verdict row of the section on its right (which shows the numbers the ratio divides) "
    "whenever any section of this file is written, so a section measured alone (`run.py "
    "--only ...`, dated in its section) shows here as it stands."
)
NOT_MEASURED = fmt_verdict("not measured")
_RATIO = re.compile(r"= (\d[\d,.]*(?:x|%))")


def _cells(line: str) -> list[str] | None:
    """The cells of a markdown table row, or None for any other line."""
    if not (line.startswith("| ") and line.endswith(" |")):
        return None
    return [cell.strip() for cell in line[2:-2].split(" | ")]


def verdict_rows(lines: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Aim cell → (measured, verdict) of every "aim | measured | verdict" table row."""
    found: dict[str, tuple[str, str]] = {}
    for line in lines:
        cells = _cells(line)
        if cells is not None and len(cells) == 3:
            found.setdefault(cells[0], (cells[1], cells[2]))
    return found


def ratio_of(measured: str) -> str:
    """The ratio(s) a verdict row's measured cell ends a comparison with (``= 1.36x``,
    ``= 5.1%``), joined by " / " when it has two (import: -X importtime and wall time)."""
    found = _RATIO.findall(measured)
    return " / ".join(found) if found else "—"


def summary(lines: Sequence[str], aims: Sequence[Aim] = results_aims.ALL) -> list[str]:
    """The summary section: one row per aim, "not measured" for an aim whose section has
    no verdict row for it (not run, or failed, in the runs that wrote the file)."""
    rows = verdict_rows(lines)
    table = []
    for aim in aims:
        measured, verdict = rows.get(aim.row, ("", NOT_MEASURED))
        table.append([aim.summary, ratio_of(measured), verdict, aim.section])
    return [HEADING, "", INTRO, "", *md_table(["aim", "ratio", "verdict", "section"], table)]


def _without_summary(lines: list[str]) -> list[str]:
    start = next((i for i, line in enumerate(lines) if line == HEADING), None)
    if start is None:
        return lines
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), None)
    return lines[:start] + (lines[end:] if end is not None else [])


def refresh(markdown: str) -> str:
    """``markdown`` with its summary of issue 10's aims rebuilt from its sections, placed
    before its first section (after the title and the line under it)."""
    lines = _without_summary(markdown.rstrip("\n").split("\n"))
    found = summary(lines)
    at = next((i for i, line in enumerate(lines) if line.startswith("## ")), len(lines))
    lines[at:at] = [*found, ""]
    return "\n".join(lines).rstrip("\n") + "\n"
