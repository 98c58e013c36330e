"""The cost report as one self-contained HTML page: inline CSS and hand-built SVG charts, no
scripts and nothing fetched, drawn from the report's JSON document (so the page can also be
made from ``faaskit cost report APP --json`` output).

    write_html(report.to_dict(), "cost.html")
    write_html(json.loads(Path("report.json").read_text()), "cost.html")

Every string from the document is escaped: function names, the app's name and the notes come
from users' code. The page is well-formed XML as well as HTML, so a test can parse it whole.

This module lays the page out (its sections and tables); the two charts are
:mod:`faaskit.cost.charts`', drawn with :mod:`faaskit.cost.svg`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

from faaskit.cost.charts import (
    PLATFORM_COLOURS,
    PLATFORM_NAMES,
    bad,
    mapping,
    maybe_number,
    memory_charts,
    money_text,
    number,
    objects,
    platform_name,
    platform_order,
    rate_chart,
    rate_text,
    string,
)
from faaskit.cost.svg import Scale, log_scale
from faaskit.errors import ValidationError

# Scale, log_scale and the formats live in svg.py and charts.py; importable from here as well.
__all__ = [
    "PLATFORM_COLOURS",
    "PLATFORM_NAMES",
    "Scale",
    "log_scale",
    "money_text",
    "rate_text",
    "render_html",
    "write_html",
]

_TOP_RPS = "100,000 req/s"  # the report searches break-even rates up to there
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222}
main{max-width:60rem;margin:0 auto;padding:1rem 1.5rem 3rem;line-height:1.45}
h1{margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.8rem 0;font-size:.92rem}
th,td{padding:.25rem .6rem;border-bottom:1px solid #e5e5e5;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.holds{color:#0a6b2f}.fails{color:#a11}.muted{color:#666}
figure{margin:1rem 0}svg{max-width:100%;height:auto;font-family:inherit}
figcaption{font-size:.88rem;color:#555}.pair{display:flex;flex-wrap:wrap;gap:1rem}
"""


def render_html(document: Mapping[str, Any]) -> str:
    """A self-contained HTML page (no scripts, no external fetches: inline CSS and inline
    SVG) for a cost report document (:meth:`faaskit.cost.report.CostReport.to_dict`).

    Optional parts the document lacks (memory curves, patterns, notes…) are left out; a
    value of the wrong type is a :class:`~faaskit.errors.ValidationError` naming it."""
    if not isinstance(document, Mapping):
        raise ValidationError("cost report document: expected a JSON object")
    app = string(document.get("app", "the app"), "app")
    body = [
        f"<h1>What {escape(app)} costs</h1>",
        *_header(document),
        *rate_chart(document),
        *_platform_tables(document),
        *_function_parts(document),
        *_patterns(document),
        *_notes(document),
    ]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            '<head><meta charset="utf-8" />',
            '<meta name="viewport" content="width=device-width, initial-scale=1" />',
            f"<title>What {escape(app)} costs</title>",
            f"<style>{_CSS}</style></head>",
            "<body><main>",
            *body,
            "</main></body></html>",
            "",
        ]
    )


def write_html(document: Mapping[str, Any], path: str | Path) -> Path:
    """Write :func:`render_html` of ``document`` to ``path`` (UTF-8); returns the path."""
    target = Path(path)
    page = render_html(document)  # render first: a bad document leaves no half-written file
    try:
        target.write_text(page, encoding="utf-8")
    except OSError as error:
        raise ValidationError(
            f"cannot write the HTML report to {target} ({error.strerror})"
        ) from None
    return target


# --- savings and limits in words ------------------------------------------------------------


def _saving_text(saving: float) -> str:
    return f"{saving:,.0%} cheaper" if saving >= 0 else f"{-saving:,.0%} dearer"


def _break_even_text(rps: float | None) -> str:
    # The report's convention: None = not reached below 100,000 req/s, 0 = there from the start.
    if rps is None:
        return f"above {_TOP_RPS}"
    return "never" if rps == 0 else rate_text(rps)


# --- the header and the verdict paragraph ---------------------------------------------------


def _header(document: Mapping[str, Any]) -> list[str]:
    lines = []
    profile = mapping(document, "profile")
    if profile:
        parts = [
            f"{label} {rate_text(number(profile[key], f'profile.{key}'))}"
            for label, key in (("mean", "mean_rps"), ("peak", "peak_rps"))
            if key in profile
        ]
        if "requests_a_month" in profile:
            requests = number(profile.get("requests_a_month"), "profile.requests_a_month")
            parts.append(f"{requests:,.0f} requests a month")
        name = string(profile.get("name", "traffic"), "profile.name")
        # Not profile.description: the report's is this line in other words.
        lines.append(f"<p><strong>Profile {escape(name)}</strong>: {escape(', '.join(parts))}.</p>")
    lines.append(f'<p class="muted">{escape(_provenance(document))}</p>')
    sentences = _verdict_sentences(document)
    if sentences:
        lines.append(f"<p>{' '.join(escape(s) for s in sentences)}</p>")
    return lines


def _provenance(document: Mapping[str, Any]) -> str:
    records = mapping(document, "records")
    parts = []
    if "count" in records:
        parts.append(
            f"Priced from {number(records.get('count'), 'records.count'):,.0f} invocation records"
        )
        if "functions" in records:
            parts[-1] += (
                f" of {number(records.get('functions'), 'records.functions'):,.0f} functions"
            )
        if records.get("since"):
            parts[-1] += f" (the last {string(records['since'], 'records.since')})"
    if document.get("generated_at"):
        stamp = string(document["generated_at"], "generated_at")
        with suppress(ValueError):  # not ISO 8601: shown as given
            stamp = datetime.fromisoformat(stamp).strftime("%Y-%m-%d %H:%M %Z").strip()
        parts.append(f"generated {stamp}")
    parts.append(
        f"{string(document.get('currency', 'USD'), 'currency')} a month of "
        f"{number(document.get('hours_per_month', 730), 'hours_per_month'):,.0f} hours, "
        "no free tiers"
    )
    return "; ".join(parts) + "."


def _verdict_sentences(document: Mapping[str, Any]) -> list[str]:
    """One sentence a platform: its saving at the profile and each multiple of it, and the
    rates where it breaks even with the fleet and stops being 70% cheaper."""
    order = platform_order(document)  # checks every platform name first
    platforms = {p["platform"]: p for p in objects(document, "platforms")}
    verdicts: dict[str, list[Mapping[str, Any]]] = {}
    for verdict in objects(document, "verdicts"):
        verdicts.setdefault(verdict["platform"], []).append(verdict)
    sentences = []
    for name in order:
        platform = platforms.get(name, {})
        parts = [_verdict_part(v, first=not i) for i, v in enumerate(_by_scale(verdicts, name))]
        if not parts and "saving" in platform:
            saving = number(platform.get("saving"), f"{name} saving")
            parts.append(f"{_saving_text(saving)} than the VM fleet at the profile")
        if parts:
            sentences.append(
                f"{platform_name(name)}: {'; '.join(parts)}{_limits_clause(platform)}."
            )
    return sentences


def _by_scale(
    verdicts: Mapping[str, list[Mapping[str, Any]]], name: str
) -> list[Mapping[str, Any]]:
    return sorted(verdicts.get(name, []), key=lambda v: number(v.get("scale"), f"{name} scale"))


def _verdict_part(verdict: Mapping[str, Any], *, first: bool) -> str:
    """``80% cheaper than the VM fleet at the profile (2 req/s; 70% holds)``."""
    scale = number(verdict.get("scale"), "verdicts[].scale")
    saving = _saving_text(number(verdict.get("saving"), "verdicts[].saving"))
    where = "at the profile" if scale == 1 else f"at {scale:g}x"
    about = ["70% holds" if verdict.get("holds") else "70% fails"]
    if "mean_rps" in verdict:
        about.insert(0, rate_text(number(verdict.get("mean_rps"), "verdicts[].mean_rps")))
    against = " than the VM fleet" if first else ""
    return f"{saving}{against} {where} ({'; '.join(about)})"


def _limits_clause(platform: Mapping[str, Any]) -> str:
    clauses = []
    if "break_even_rps" in platform:
        even = maybe_number(platform.get("break_even_rps"), "platforms[].break_even_rps")
        clauses.append(
            f"cheaper up to {_TOP_RPS}"
            if even is None
            else "never cheaper than the fleet"
            if even == 0
            else f"breaks even at {rate_text(even)}"
        )
    if "seventy_rps" in platform:
        seventy = maybe_number(platform.get("seventy_rps"), "platforms[].seventy_rps")
        clauses.append(
            f"70% cheaper up to {_TOP_RPS}"
            if seventy is None
            else "never 70% cheaper"
            if seventy == 0
            else f"70% cheaper below {rate_text(seventy)}"
        )
    return f"; {', '.join(clauses)}" if clauses else ""


# --- the platform and verdict tables --------------------------------------------------------


def _table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    numeric: Sequence[bool],
    caption: str = "",
) -> str:
    """A table; cells are HTML already (escaped by the caller)."""

    def cell(tag: str, text: str, right: bool) -> str:
        return f'<{tag} class="n">{text}</{tag}>' if right else f"<{tag}>{text}</{tag}>"

    head = "".join(cell("th", escape(h), n) for h, n in zip(headers, numeric, strict=True))
    body = "".join(
        "<tr>" + "".join(cell("td", c, n) for c, n in zip(row, numeric, strict=True)) + "</tr>"
        for row in rows
    )
    title = f"<caption>{escape(caption)}</caption>" if caption else ""
    return f"<table>{title}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _platform_tables(document: Mapping[str, Any]) -> list[str]:
    out = []
    platforms = objects(document, "platforms")
    vm = mapping(document, "vm")
    if platforms:
        rows = [_platform_row(p) for p in platforms]
        if "monthly" in vm:
            rows.append(
                [
                    escape(platform_name("vm")),
                    money_text(number(vm.get("monthly"), "vm.monthly")),
                    "",
                    "",
                    "",
                ]
            )
        fleet = f"against {string(vm['fleet'], 'vm.fleet')}" if vm.get("fleet") else ""
        out += [
            "<h2>At the profile</h2>",
            _table(
                ["Platform", "A month", "Against the VM", "Break-even", "70% cheaper below"],
                rows,
                [False, True, True, True, True],
                fleet,
            ),
        ]
    verdicts = objects(document, "verdicts")
    if verdicts:
        out += [
            "<h2>\u201c70% cheaper than a VM\u201d: does it hold?</h2>",
            _verdict_table(verdicts),
        ]
    return out


def _platform_row(platform: Mapping[str, Any]) -> list[str]:
    name = string(platform.get("platform"), "platforms[].platform")

    def rate(key: str) -> str:
        return escape(_break_even_text(maybe_number(platform.get(key), f"{name} {key}")))

    saving = platform.get("saving")
    return [
        escape(platform_name(name)),
        money_text(number(platform.get("monthly"), f"{name} monthly")),
        "" if saving is None else escape(_saving_text(number(saving, f"{name} saving"))),
        rate("break_even_rps"),
        rate("seventy_rps"),
    ]


def _verdict_table(verdicts: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for v in verdicts:
        holds = bool(v.get("holds"))
        mark = (
            '<span class="holds">\u2713 holds</span>'
            if holds
            else '<span class="fails">\u2717 fails</span>'
        )
        rows.append(
            [
                escape(platform_name(string(v.get("platform"), "verdicts[].platform"))),
                escape(f"{number(v.get('scale'), 'verdicts[].scale'):g}x"),
                escape(rate_text(number(v.get("mean_rps"), "verdicts[].mean_rps")))
                if "mean_rps" in v
                else "",
                money_text(number(v.get("monthly"), "verdicts[].monthly")),
                money_text(number(v.get("vm_monthly"), "verdicts[].vm_monthly")),
                escape(_saving_text(number(v.get("saving"), "verdicts[].saving"))),
                mark,
            ]
        )
    return _table(
        ["Platform", "Scale", "Mean rate", "A month", "VM a month", "Against the VM", "70%"],
        rows,
        [False, True, True, True, True, True, False],
    )


# --- per function: the memory curves and the functions table --------------------------------


def _function_parts(document: Mapping[str, Any]) -> list[str]:
    out = []
    memory = objects(document, "memory")
    if memory:
        out.append("<h2>Cost and duration against memory (Lambda)</h2>")
        for entry in memory:
            out += memory_charts(entry)
    functions = objects(document, "functions")
    if functions:
        out += [
            "<h2>Per function a month at the profile</h2>",
            _function_table(document, functions),
        ]
    return out


def _function_table(document: Mapping[str, Any], functions: Sequence[Mapping[str, Any]]) -> str:
    platforms = [p for p in platform_order(document) if p != "vm"]
    for f in functions:
        for name in mapping(f, "monthly"):
            if name not in platforms:
                platforms.append(name)
    rows = []
    for f in functions:
        name = string(f.get("function"), "functions[].function")
        monthly = mapping(f, "monthly")

        def figure(key: str, fmt: str, name: str = name, f: Mapping[str, Any] = f) -> str:
            return format(number(f[key], f"{name} {key}"), fmt) if key in f else ""

        rows.append(
            [
                escape(name),
                escape(string(f.get("trigger", ""), f"{name} trigger")),
                figure("count", ",.0f"),
                figure("requests", ",.0f"),
                figure("memory_mb", ",.0f"),
                figure("duration_ms", ",.2f"),
                figure("cpu_share", ".0%"),
                *(
                    money_text(number(monthly[p], f"{name} monthly {p}")) if p in monthly else ""
                    for p in platforms
                ),
            ]
        )
    headers = ["Function", "Trigger", "Measured", "A month", "MB", "ms", "CPU"]
    return _table(
        [*headers, *(platform_name(p) for p in platforms)],
        rows,
        [False, False, *([True] * (len(headers) - 2 + len(platforms)))],
        "invocations measured here, a month at the profile, Lambda's size and duration there",
    )


# --- patterns and notes ---------------------------------------------------------------------


def _patterns(document: Mapping[str, Any]) -> list[str]:
    patterns = objects(document, "patterns")
    if not patterns:
        return []
    rows = []
    for p in patterns:
        name = string(p.get("pattern"), "patterns[].pattern")
        rows.append(
            [
                escape(name),
                escape(string(p.get("before", ""), f"{name} before")),
                escape(string(p.get("after", ""), f"{name} after")),
                money_text(number(p.get("before_monthly"), f"{name} before_monthly")),
                money_text(number(p.get("after_monthly"), f"{name} after_monthly")),
                escape(_saving_text(number(p.get("saving"), f"{name} saving")))
                if "saving" in p
                else "",
                escape(string(p.get("assumption", ""), f"{name} assumption")),
            ]
        )
    return [
        "<h2>The article\u2019s patterns, priced</h2>",
        _table(
            ["Pattern", "Before", "After", "Before a month", "After a month", "Saving", "Assumed"],
            rows,
            [False, False, False, True, True, True, False],
        ),
    ]


def _notes(document: Mapping[str, Any]) -> list[str]:
    notes = document.get("notes") or []
    if not isinstance(notes, list):
        raise bad("notes", "a list of strings", notes)
    if not notes:
        return []
    items = "".join(f"<li>{escape(string(n, 'notes[]'))}</li>" for n in notes)
    return ["<h2>Notes</h2>", f"<ul>{items}</ul>"]
