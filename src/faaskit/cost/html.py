"""The cost report as one self-contained HTML page: inline CSS and hand-built SVG charts, no
scripts and nothing fetched, drawn from the report's JSON document (so the page can also be
made from ``faaskit cost report APP --json`` output).

    write_html(report.to_dict(), "cost.html")
    write_html(json.loads(Path("report.json").read_text()), "cost.html")

Every string from the document is escaped: function names, the app's name and the notes come
from users' code. The page is well-formed XML as well as HTML, so a test can parse it whole.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from html import escape
from itertools import pairwise
from pathlib import Path
from typing import Any

from faaskit.errors import ValidationError

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

PLATFORM_NAMES: Mapping[str, str] = {
    "aws-lambda": "AWS Lambda",
    "azure-consumption": "Azure Consumption",
    "azure-flex": "Azure Flex",
    "cloud-run": "Cloud Run",
    "vm": "VM fleet",
}

# Okabe-Ito colours, told apart with most colour blindness; every line is labelled as well.
PLATFORM_COLOURS: Mapping[str, str] = {
    "aws-lambda": "#d55e00",
    "azure-consumption": "#0072b2",
    "azure-flex": "#56b4e9",
    "cloud-run": "#009e73",
    "vm": "#000000",
}
_OTHER_COLOURS = ("#cc79a7", "#e69f00", "#999999")

_TOP_RPS = "100,000 req/s"  # the report searches break-even rates up to there
_FLOOR = 0.01  # a cent: the log axes' lowest money value (a $0.00 month sits on it)
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
    app = _text(document.get("app", "the app"), "app")
    body = [
        f"<h1>What {escape(app)} costs</h1>",
        *_header(document),
        *_rate_chart(document),
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


# --- formatting -----------------------------------------------------------------------------


def money_text(amount: float) -> str:
    """``$1,234.56`` (half up to the cent, from the float's shortest decimal form)."""
    cents = Decimal(repr(amount)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"-${-cents:,.2f}" if cents < 0 else f"${cents:,.2f}"


def rate_text(rps: float) -> str:
    """``12.3 req/s``, ``0.25 req/s``, ``1,480 req/s``: three significant figures."""
    if rps >= 1000:
        return f"{rps:,.0f} req/s"
    if 0 < rps < 0.001:
        return "< 0.001 req/s"
    return f"{_figures(rps)} req/s"


def _figures(value: float) -> str:
    """Three significant figures, grouped, no exponent below a million: ``1,480``, ``0.25``."""
    return f"{float(f'{value:.3g}'):,g}"


def _saving_text(saving: float) -> str:
    return f"{saving:,.0%} cheaper" if saving >= 0 else f"{-saving:,.0%} dearer"


def _break_even_text(rps: float | None) -> str:
    # The report's convention: None = not reached below 100,000 req/s, 0 = there from the start.
    if rps is None:
        return f"above {_TOP_RPS}"
    return "never" if rps == 0 else rate_text(rps)


def _name(platform: str) -> str:
    return PLATFORM_NAMES.get(platform, platform)


def _colour(platform: str, order: Sequence[str]) -> str:
    if platform in PLATFORM_COLOURS:
        return PLATFORM_COLOURS[platform]
    others = [p for p in order if p not in PLATFORM_COLOURS]
    index = others.index(platform) if platform in others else 0
    return _OTHER_COLOURS[index % len(_OTHER_COLOURS)]


# --- reading the document -------------------------------------------------------------------


def _bad(where: str, what: str, value: object) -> ValidationError:
    return ValidationError(
        f"cost report document: {where} should be {what}, not {reprlib.repr(value)}"
    )


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(where, "a number", value)
    return float(value)


def _maybe_number(value: object, where: str) -> float | None:
    return None if value is None else _number(value, where)


def _text(value: object, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _bad(where, "a string", value)
    return str(value)


def _objects(document: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = document.get(key) or []
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise _bad(key, "a list of objects", value)
    return value


def _object(document: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = document.get(key) or {}
    if not isinstance(value, Mapping):
        raise _bad(key, "an object", value)
    return value


def _platform_order(document: Mapping[str, Any]) -> list[str]:
    names = [
        _text(p.get("platform"), "platforms[].platform") for p in _objects(document, "platforms")
    ]
    for verdict in _objects(document, "verdicts"):
        name = _text(verdict.get("platform"), "verdicts[].platform")
        if name not in names:
            names.append(name)
    return names


# --- the header and the verdict paragraph ---------------------------------------------------


def _header(document: Mapping[str, Any]) -> list[str]:
    lines = []
    profile = _object(document, "profile")
    if profile:
        parts = [
            f"{label} {rate_text(_number(profile[key], f'profile.{key}'))}"
            for label, key in (("mean", "mean_rps"), ("peak", "peak_rps"))
            if key in profile
        ]
        if "requests_a_month" in profile:
            requests = _number(profile.get("requests_a_month"), "profile.requests_a_month")
            parts.append(f"{requests:,.0f} requests a month")
        name = _text(profile.get("name", "traffic"), "profile.name")
        # Not profile.description: the report's is this line in other words.
        lines.append(f"<p><strong>Profile {escape(name)}</strong>: {escape(', '.join(parts))}.</p>")
    lines.append(f'<p class="muted">{escape(_provenance(document))}</p>')
    sentences = _verdict_sentences(document)
    if sentences:
        lines.append(f"<p>{' '.join(escape(s) for s in sentences)}</p>")
    return lines


def _provenance(document: Mapping[str, Any]) -> str:
    records = _object(document, "records")
    parts = []
    if "count" in records:
        parts.append(
            f"Priced from {_number(records.get('count'), 'records.count'):,.0f} invocation records"
        )
        if "functions" in records:
            parts[-1] += (
                f" of {_number(records.get('functions'), 'records.functions'):,.0f} functions"
            )
        if records.get("since"):
            parts[-1] += f" (the last {_text(records['since'], 'records.since')})"
    if document.get("generated_at"):
        stamp = _text(document["generated_at"], "generated_at")
        with suppress(ValueError):  # not ISO 8601: shown as given
            stamp = datetime.fromisoformat(stamp).strftime("%Y-%m-%d %H:%M %Z").strip()
        parts.append(f"generated {stamp}")
    parts.append(
        f"{_text(document.get('currency', 'USD'), 'currency')} a month of "
        f"{_number(document.get('hours_per_month', 730), 'hours_per_month'):,.0f} hours, "
        "no free tiers"
    )
    return "; ".join(parts) + "."


def _verdict_sentences(document: Mapping[str, Any]) -> list[str]:
    """One sentence a platform: its saving at the profile and each multiple of it, and the
    rates where it breaks even with the fleet and stops being 70% cheaper."""
    order = _platform_order(document)  # checks every platform name first
    platforms = {p["platform"]: p for p in _objects(document, "platforms")}
    verdicts: dict[str, list[Mapping[str, Any]]] = {}
    for verdict in _objects(document, "verdicts"):
        verdicts.setdefault(verdict["platform"], []).append(verdict)
    sentences = []
    for name in order:
        platform = platforms.get(name, {})
        parts = [_verdict_part(v, first=not i) for i, v in enumerate(_by_scale(verdicts, name))]
        if not parts and "saving" in platform:
            saving = _number(platform.get("saving"), f"{name} saving")
            parts.append(f"{_saving_text(saving)} than the VM fleet at the profile")
        if parts:
            sentences.append(f"{_name(name)}: {'; '.join(parts)}{_limits_clause(platform)}.")
    return sentences


def _by_scale(
    verdicts: Mapping[str, list[Mapping[str, Any]]], name: str
) -> list[Mapping[str, Any]]:
    return sorted(verdicts.get(name, []), key=lambda v: _number(v.get("scale"), f"{name} scale"))


def _verdict_part(verdict: Mapping[str, Any], *, first: bool) -> str:
    """``80% cheaper than the VM fleet at the profile (2 req/s; 70% holds)``."""
    scale = _number(verdict.get("scale"), "verdicts[].scale")
    saving = _saving_text(_number(verdict.get("saving"), "verdicts[].saving"))
    where = "at the profile" if scale == 1 else f"at {scale:g}x"
    about = ["70% holds" if verdict.get("holds") else "70% fails"]
    if "mean_rps" in verdict:
        about.insert(0, rate_text(_number(verdict.get("mean_rps"), "verdicts[].mean_rps")))
    against = " than the VM fleet" if first else ""
    return f"{saving}{against} {where} ({'; '.join(about)})"


def _limits_clause(platform: Mapping[str, Any]) -> str:
    clauses = []
    if "break_even_rps" in platform:
        even = _maybe_number(platform.get("break_even_rps"), "platforms[].break_even_rps")
        clauses.append(
            f"cheaper up to {_TOP_RPS}"
            if even is None
            else "never cheaper than the fleet"
            if even == 0
            else f"breaks even at {rate_text(even)}"
        )
    if "seventy_rps" in platform:
        seventy = _maybe_number(platform.get("seventy_rps"), "platforms[].seventy_rps")
        clauses.append(
            f"70% cheaper up to {_TOP_RPS}"
            if seventy is None
            else "never 70% cheaper"
            if seventy == 0
            else f"70% cheaper below {rate_text(seventy)}"
        )
    return f"; {', '.join(clauses)}" if clauses else ""


# --- SVG building blocks --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scale:
    """Maps data values in [low, high] onto pixels [start, end] (end < start for a y axis),
    logarithmically or linearly. A log scale puts values at or below zero on ``low``."""

    low: float
    high: float
    start: float
    end: float
    log: bool = False

    def __call__(self, value: float) -> float:
        if self.log:
            value = max(value, self.low)
            span = math.log10(self.high) - math.log10(self.low)
            fraction = (math.log10(value) - math.log10(self.low)) / span
        else:
            fraction = (value - self.low) / (self.high - self.low)
        return round(self.start + fraction * (self.end - self.start), 2)


def log_scale(low: float, high: float, start: float, end: float) -> Scale:
    """A log10 scale; ``low`` and ``high`` must be positive and differ."""
    if not 0 < low < high:
        raise ValidationError(f"log scale from {low} to {high}: need 0 < low < high")
    return Scale(low, high, start, end, log=True)


def _decades(values: Iterable[float], floor: float = 0.0) -> tuple[float, float]:
    """The powers of ten enclosing the positive ``values`` (at least one decade, not below
    ``floor`` when it is positive)."""
    positive = [v for v in values if v > 0] or [1.0]
    low = 10.0 ** math.floor(math.log10(min(positive)))
    high = 10.0 ** math.ceil(math.log10(max(positive)))
    if floor > 0:
        low = max(low, floor)
    if high <= low:
        high = low * 10
    return low, high


def _powers(low: float, high: float) -> list[float]:
    first, last = round(math.log10(low)), round(math.log10(high))
    return [10.0**e for e in range(first, last + 1)]


def _nice_top(value: float) -> tuple[float, float]:
    """A round axis top at or above ``value`` and its tick step (1, 2 or 5 x 10^k)."""
    if value <= 0:
        return 1.0, 0.25
    magnitude = 10.0 ** math.floor(math.log10(value / 4))
    step = next(m * magnitude for m in (1, 2, 5, 10) if value / (m * magnitude) <= 5)
    return math.ceil(value / step - 1e-9) * step, step


def _attrs(**attributes: object) -> str:
    return "".join(
        f' {key.rstrip("_").replace("_", "-")}="{escape(str(value))}"'
        for key, value in attributes.items()
        if value is not None
    )


def _line(x1: float, y1: float, x2: float, y2: float, **style: object) -> str:
    return f"<line{_attrs(x1=x1, y1=y1, x2=x2, y2=y2, **style)} />"


_HALO: Mapping[str, object] = {"stroke": "#ffffff", "stroke_width": 3, "paint_order": "stroke"}
"""A white outline under a label's letters, so it reads where it crosses a line."""


def _label(x: float, y: float, text: str, **style: object) -> str:
    style.setdefault("font_size", 11)
    return f"<text{_attrs(x=x, y=y, **style)}>{escape(text)}</text>"


def _points(
    xs: Sequence[float], ys: Sequence[float], x: Scale, y: Scale
) -> list[tuple[float, float]]:
    """The pixels of (xs, ys), in x order."""
    return sorted((x(a), y(b)) for a, b in zip(xs, ys, strict=True))


def _polyline(points: Sequence[tuple[float, float]], colour: str, **style: object) -> str:
    drawn = " ".join(f"{px:g},{py:g}" for px, py in points)
    style.setdefault("stroke_width", 2)
    return f'<polyline fill="none"{_attrs(points=drawn, stroke=colour, **style)} />'


def _svg(width: int, height: int, title: str, parts: Iterable[str]) -> str:
    box = f"0 0 {width} {height}"
    return "\n".join(
        [
            f"<svg{_attrs(width=width, height=height, viewBox=box, role='img')}>",
            f"<title>{escape(title)}</title>",
            f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff" />',
            *parts,
            "</svg>",
        ]
    )


def _axes(
    x: Scale,
    y: Scale,
    x_ticks: Sequence[tuple[float, str]],
    y_ticks: Sequence[tuple[float, str]],
    x_title: str,
    y_title: str,
) -> list[str]:
    left, right, bottom, top = x.start, x.end, y.start, y.end
    parts = []
    for value, text in y_ticks:
        py = y(value)
        parts.append(_line(left, py, right, py, stroke="#e3e3e3"))
        parts.append(_label(left - 6, py + 4, text, text_anchor="end"))
    for value, text in x_ticks:
        px = x(value)
        parts.append(_line(px, top, px, bottom, stroke="#eeeeee"))
        parts.append(_label(px, bottom + 16, text, text_anchor="middle"))
    parts.append(_line(left, bottom, right, bottom, stroke="#555555"))
    parts.append(_line(left, bottom, left, top, stroke="#555555"))
    parts.append(
        _label((left + right) / 2, bottom + 36, x_title, text_anchor="middle", font_size=12)
    )
    parts.append(_label(left, top - 8, y_title, text_anchor="start", font_size=12))
    return parts


def _spread(ys: Sequence[float], gap: float) -> list[float]:
    """Label heights moved apart by at least ``gap``, keeping their order (line-end labels
    of lines that end close together)."""
    order = sorted(range(len(ys)), key=lambda i: ys[i])
    out = list(ys)
    for before, index in pairwise(order):
        out[index] = max(out[index], out[before] + gap)
    return out


def _interpolate(xs: Sequence[float], ys: Sequence[float], at: float) -> float:
    """The curve's value at ``at``, straight between points on log-log axes."""
    pairs = sorted(zip(xs, ys, strict=True))
    for (x0, y0), (x1, y1) in pairwise(pairs):
        if x0 <= at <= x1:
            a, b = max(y0, _FLOOR), max(y1, _FLOOR)
            t = (math.log10(at) - math.log10(x0)) / (math.log10(x1) - math.log10(x0))
            return 10 ** (math.log10(a) + t * (math.log10(b) - math.log10(a)))
    return pairs[0][1] if at < pairs[0][0] else pairs[-1][1]


# --- chart 1: monthly cost against request rate ---------------------------------------------


def _rate_chart(document: Mapping[str, Any]) -> list[str]:
    rps, lines = _curves(document)
    if not lines:
        return []
    width, height = 760, 460
    x = log_scale(*_decades(rps), 76, width - 150)
    y = log_scale(*_decades([v for vs in lines.values() for v in vs], _FLOOR), height - 96, 28)
    order = [*_platform_order(document), "vm"]
    platforms = {p["platform"]: p for p in _objects(document, "platforms")}
    parts = _axes(
        x,
        y,
        [(v, rate_text(v).removesuffix(" req/s")) for v in _powers(x.low, x.high)],
        [(v, _money_tick(v)) for v in _powers(y.low, y.high)],
        "mean request rate at the front door (req/s, log scale)",
        "USD a month (log scale)",
    )
    parts += _profile_marker(document, x, y)
    parts += _cost_lines(lines, platforms, rps, x, y, order)
    parts += _break_even_markers(lines, platforms, rps, x, y, order)
    keys = [_Key(_name(n), _colour(n, order), _dashes(n)) for n in order if n in lines]
    keys += [
        _Key("30% of the VM: below it, 70% cheaper", "#777777", "2 3", 1),
        _Key("where a platform stays 70% cheaper", "#777777", None, 9, 0.22),
    ]
    parts += _legend(keys, x.start - 40, height - 34, width - 10)
    figure = _svg(width, height, "Monthly cost against mean request rate, per platform", parts)
    caption = (
        "Each platform's month against the mean request rate; the VM fleet dashed, its 30% "
        "dotted (a line below the dotted one is 70% cheaper than the fleet; the wide pale "
        "stroke is where it stays so). Circles mark where a platform breaks even with the fleet."
    )
    return [
        "<h2>Monthly cost against request rate</h2>",
        f"<figure>{figure}<figcaption>{escape(caption)}</figcaption></figure>",
    ]


def _curves(document: Mapping[str, Any]) -> tuple[list[float], dict[str, list[float]]]:
    """The rates and, per platform and for the VM, the month at each (checked)."""
    curves = _object(document, "curves")
    if not curves.get("rps"):
        return [], {}
    rps = [_number(v, "curves.rps[]") for v in curves["rps"]]
    if rps[0] <= 0 or any(b <= a for a, b in pairwise(rps)):
        raise _bad("curves.rps", "positive rates, rising", curves["rps"])
    lines = {
        name: [_number(v, f"curves.platforms.{name}[]") for v in values]
        for name, values in _object(curves, "platforms").items()
    }
    if curves.get("vm"):
        lines["vm"] = [_number(v, "curves.vm[]") for v in curves["vm"]]
    for name, values in lines.items():
        if len(values) != len(rps):
            raise _bad(f"curves {name}", f"{len(rps)} costs, one per rate", values)
    return rps, lines


def _dashes(platform: str) -> str | None:
    return "7 5" if platform == "vm" else None  # the fleet is told by its dashes, not only colour


def _cost_lines(
    lines: Mapping[str, Sequence[float]],
    platforms: Mapping[str, Mapping[str, Any]],
    rps: Sequence[float],
    x: Scale,
    y: Scale,
    order: Sequence[str],
) -> list[str]:
    """The VM's 30% dotted; each line, under it a wide pale stroke up to its 70% rate (the
    whole way when that is past the range, none when it is 0); a name at each line's end."""
    parts = []
    if "vm" in lines:
        dotted = [v * 0.3 for v in lines["vm"]]
        points = _points(rps, dotted, x, y)
        parts.append(_polyline(points, "#777777", stroke_width=1, stroke_dasharray="2 3"))
    for name, values in lines.items():
        colour = _colour(name, order)
        if name != "vm" and "seventy_rps" in platforms.get(name, {}):
            seventy = _maybe_number(platforms[name]["seventy_rps"], f"{name} seventy_rps")
            if seventy != 0:
                stretch = _until(rps, values, x.high if seventy is None else seventy, x, y)
                if len(stretch) > 1:  # a 70% rate below the first rate leaves nothing to draw
                    parts.append(_polyline(stretch, colour, stroke_width=9, stroke_opacity=0.22))
        points = _points(rps, values, x, y)
        parts.append(_polyline(points, colour, stroke_dasharray=_dashes(name)))
    last = rps.index(max(rps))
    ends = _spread([y(values[last]) + 4 for values in lines.values()], 13)
    for name, end in zip(lines, ends, strict=True):
        parts.append(_label(x.end + 6, end, _name(name), fill=_colour(name, order)))
    return parts


def _money_tick(value: float) -> str:
    return f"${value:,.0f}" if value >= 1 else f"${value:.2f}"


def _until(
    xs: Sequence[float], ys: Sequence[float], limit: float, x: Scale, y: Scale
) -> list[tuple[float, float]]:
    """The curve from its start up to ``limit`` (the last piece interpolated)."""
    kept = [(a, b) for a, b in zip(xs, ys, strict=True) if a <= limit]
    if min(xs) < limit < max(xs) and limit not in xs:
        kept.append((limit, _interpolate(xs, ys, limit)))
    return sorted((x(a), y(b)) for a, b in kept)


def _profile_marker(document: Mapping[str, Any], x: Scale, y: Scale) -> list[str]:
    profile = _object(document, "profile")
    if "mean_rps" not in profile:
        return []
    mean = _number(profile.get("mean_rps"), "profile.mean_rps")
    if not x.low <= mean <= x.high:
        return []
    px = x(mean)
    return [
        _line(px, y.start, px, y.end, stroke="#444444", stroke_width=1, stroke_dasharray="4 3"),
        _label(px + 4, y.end + 12, f"profile: {rate_text(mean)}", fill="#444444", **_HALO),
    ]


def _break_even_markers(
    lines: Mapping[str, Sequence[float]],
    platforms: Mapping[str, Mapping[str, Any]],
    rps: Sequence[float],
    x: Scale,
    y: Scale,
    order: Sequence[str],
) -> list[str]:
    """A ring where each platform's line meets the fleet's, labelled with the rate. The
    crossings sit near one another on the fleet's line, so the labels are stacked upwards
    a row apart, each tied to its ring by a thin line."""
    rings = []
    for name, values in lines.items():
        where = f"{name} break_even_rps"
        even = _maybe_number(platforms.get(name, {}).get("break_even_rps"), where)
        if even and x.low <= even <= x.high:
            rings.append((name, even, x(even), y(_interpolate(rps, values, even))))
    heights = [-h for h in _spread([-(py - 8) for *_, py in rings], 14)]
    parts = []
    for (name, even, px, py), height in zip(rings, heights, strict=True):
        colour = _colour(name, order)
        ring = _attrs(cx=px, cy=py, r=5, fill="#ffffff", stroke=colour, stroke_width=2)
        parts.append(f"<circle{ring} />")
        if py - height > 12:
            parts.append(_line(px + 3, py - 4, px + 7, height + 2, stroke=colour, stroke_width=1))
        text = f"{_name(name)} = VM at {rate_text(even)}"
        parts.append(_label(px + 7, height, text, fill=colour, **_HALO))
    return parts


@dataclass(frozen=True, slots=True)
class _Key:
    """One legend entry: a short stroke drawn as its line is, and its words."""

    text: str
    colour: str
    dashes: str | None = None
    width: float = 2
    opacity: float | None = None


def _legend(keys: Sequence[_Key], left: float, top: float, right: float) -> list[str]:
    """Entries in rows under the chart, each as wide as its words (about 6 px a letter at 10 px)."""
    parts = []
    px, py = left, top
    for key in keys:
        span = 40 + 6.2 * len(key.text)
        if px + span > right and px > left:
            px, py = left, py + 16
        stroke = {"stroke_width": key.width, "stroke_opacity": key.opacity}
        parts.append(
            _line(px, py, px + 22, py, stroke=key.colour, stroke_dasharray=key.dashes, **stroke)
        )
        parts.append(_label(px + 27, py + 4, key.text, font_size=10))
        px += span
    return parts


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
    platforms = _objects(document, "platforms")
    vm = _object(document, "vm")
    if platforms:
        rows = [_platform_row(p) for p in platforms]
        if "monthly" in vm:
            rows.append(
                [
                    escape(_name("vm")),
                    money_text(_number(vm.get("monthly"), "vm.monthly")),
                    "",
                    "",
                    "",
                ]
            )
        fleet = f"against {_text(vm['fleet'], 'vm.fleet')}" if vm.get("fleet") else ""
        out += [
            "<h2>At the profile</h2>",
            _table(
                ["Platform", "A month", "Against the VM", "Break-even", "70% cheaper below"],
                rows,
                [False, True, True, True, True],
                fleet,
            ),
        ]
    verdicts = _objects(document, "verdicts")
    if verdicts:
        out += [
            "<h2>\u201c70% cheaper than a VM\u201d: does it hold?</h2>",
            _verdict_table(verdicts),
        ]
    return out


def _platform_row(platform: Mapping[str, Any]) -> list[str]:
    name = _text(platform.get("platform"), "platforms[].platform")

    def rate(key: str) -> str:
        return escape(_break_even_text(_maybe_number(platform.get(key), f"{name} {key}")))

    saving = platform.get("saving")
    return [
        escape(_name(name)),
        money_text(_number(platform.get("monthly"), f"{name} monthly")),
        "" if saving is None else escape(_saving_text(_number(saving, f"{name} saving"))),
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
                escape(_name(_text(v.get("platform"), "verdicts[].platform"))),
                escape(f"{_number(v.get('scale'), 'verdicts[].scale'):g}x"),
                escape(rate_text(_number(v.get("mean_rps"), "verdicts[].mean_rps")))
                if "mean_rps" in v
                else "",
                money_text(_number(v.get("monthly"), "verdicts[].monthly")),
                money_text(_number(v.get("vm_monthly"), "verdicts[].vm_monthly")),
                escape(_saving_text(_number(v.get("saving"), "verdicts[].saving"))),
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
    memory = _objects(document, "memory")
    if memory:
        out.append("<h2>Cost and duration against memory (Lambda)</h2>")
        for entry in memory:
            out += _memory_charts(entry)
    functions = _objects(document, "functions")
    if functions:
        out += [
            "<h2>Per function a month at the profile</h2>",
            _function_table(document, functions),
        ]
    return out


def _memory_charts(entry: Mapping[str, Any]) -> list[str]:
    function = _text(entry.get("function"), "memory[].function")
    points = sorted(
        _objects(entry, "points"),
        key=lambda p: _number(p.get("memory_mb"), f"{function} memory_mb"),
    )
    if not points:
        return []
    best = _maybe_number(entry.get("best_mb"), f"{function} best_mb")
    sizes = [_number(p.get("memory_mb"), f"{function} memory_mb") for p in points]
    cost = _series(points, function, "per_million", ("cost_per_million", "cost_low", "cost_high"))
    duration = _series(points, function, "duration_ms", ("duration_ms", "low_ms", "high_ms"))
    title = f"{function}: best at {best:,.0f} MB" if best else function
    charts = [
        _memory_chart(
            sizes,
            cost,
            best,
            f"{function}: USD per million invocations",
            "USD per million invocations",
            money_text,
        ),
        _memory_chart(
            sizes,
            duration,
            best,
            f"{function}: duration",
            "duration",
            lambda v: f"{_figures(v)} ms",
        ),
    ]
    return [f"<h3>{escape(title)}</h3>", f'<figure class="pair">{"".join(charts)}</figure>']


_Series = tuple[list[float], list[float], list[float]]


def _series(
    points: Sequence[Mapping[str, Any]], function: str, nested: str, flat: tuple[str, str, str]
) -> _Series:
    """Estimates and their low and high bounds, from either shape of a point: flat
    (``cost_per_million``, ``cost_low``, ``cost_high``) or as
    :meth:`faaskit.cost.tuning.TuningPoint.to_dict` nests them (``per_million: {total, low,
    high}``, ``duration_ms: {estimate, low, high}``). A missing bound is the estimate."""
    middle, lows, highs = [], [], []
    for p in points:
        where = f"{function} {nested}"
        if isinstance(p.get(nested), Mapping):
            values = p[nested]
            mid = values.get("estimate", values.get("total"))
            triple = (mid, values.get("low", mid), values.get("high", mid))
        else:
            mid = p.get(flat[0])
            triple = (mid, p.get(flat[1], mid), p.get(flat[2], mid))
        middle.append(_number(triple[0], where))
        lows.append(_number(triple[1], f"{where} low"))
        highs.append(_number(triple[2], f"{where} high"))
    return middle, lows, highs


def _memory_chart(
    sizes: Sequence[float],
    series: _Series,
    best: float | None,
    title: str,
    unit: str,
    fmt: Callable[[float], str],
) -> str:
    """One small chart: the estimate against memory (evenly spaced sizes), its low-high band
    shaded, the best size ringed."""
    middle, lows, highs = series
    width, height, left = 360, 230, 62
    step = (width - left - 32) / max(len(sizes) - 1, 1)
    slots = [round(left + 8 + i * step, 2) for i in range(len(sizes))]
    top, tick = _nice_top(max(highs))
    y = Scale(0, top, height - 48, 24)
    y_ticks = [(tick * i, fmt(tick * i)) for i in range(round(top / tick) + 1)]
    parts = _axes(Scale(0, 1, left, width - 8), y, [], y_ticks, "memory (MB)", unit)
    for px, size in zip(slots, sizes, strict=True):
        parts.append(_label(px, y.start + 16, f"{size:,.0f}", text_anchor="middle", font_size=9))
    band = [(px, y(h)) for px, h in zip(slots, highs, strict=True)]
    band += [(px, y(lo)) for px, lo in reversed(list(zip(slots, lows, strict=True)))]
    drawn = " ".join(f"{px:g},{py:g}" for px, py in band)
    parts.append(f"<polygon{_attrs(points=drawn, fill='#0072b2', fill_opacity=0.18)} />")
    parts.append(_polyline([(px, y(m)) for px, m in zip(slots, middle, strict=True)], "#0072b2"))
    if best is not None and best in sizes:
        index = sizes.index(best)
        px, py = slots[index], y(middle[index])
        ring = _attrs(cx=px, cy=py, r=6, fill="none", stroke="#d55e00", stroke_width=2)
        parts.append(f"<circle{ring} />")
        text = f"best {best:,.0f} MB: {fmt(middle[index])}"
        parts.append(_label(px, py - 10, text, text_anchor="middle", fill="#d55e00", **_HALO))
    return _svg(width, height, title, parts)


def _function_table(document: Mapping[str, Any], functions: Sequence[Mapping[str, Any]]) -> str:
    platforms = [p for p in _platform_order(document) if p != "vm"]
    for f in functions:
        for name in _object(f, "monthly"):
            if name not in platforms:
                platforms.append(name)
    rows = []
    for f in functions:
        name = _text(f.get("function"), "functions[].function")
        monthly = _object(f, "monthly")

        def figure(key: str, fmt: str, name: str = name, f: Mapping[str, Any] = f) -> str:
            return format(_number(f[key], f"{name} {key}"), fmt) if key in f else ""

        rows.append(
            [
                escape(name),
                escape(_text(f.get("trigger", ""), f"{name} trigger")),
                figure("count", ",.0f"),
                figure("requests", ",.0f"),
                figure("memory_mb", ",.0f"),
                figure("duration_ms", ",.2f"),
                figure("cpu_share", ".0%"),
                *(
                    money_text(_number(monthly[p], f"{name} monthly {p}")) if p in monthly else ""
                    for p in platforms
                ),
            ]
        )
    headers = ["Function", "Trigger", "Measured", "A month", "MB", "ms", "CPU"]
    return _table(
        [*headers, *(_name(p) for p in platforms)],
        rows,
        [False, False, *([True] * (len(headers) - 2 + len(platforms)))],
        "invocations measured here, a month at the profile, Lambda's size and duration there",
    )


# --- patterns and notes ---------------------------------------------------------------------


def _patterns(document: Mapping[str, Any]) -> list[str]:
    patterns = _objects(document, "patterns")
    if not patterns:
        return []
    rows = []
    for p in patterns:
        name = _text(p.get("pattern"), "patterns[].pattern")
        rows.append(
            [
                escape(name),
                escape(_text(p.get("before", ""), f"{name} before")),
                escape(_text(p.get("after", ""), f"{name} after")),
                money_text(_number(p.get("before_monthly"), f"{name} before_monthly")),
                money_text(_number(p.get("after_monthly"), f"{name} after_monthly")),
                escape(_saving_text(_number(p.get("saving"), f"{name} saving")))
                if "saving" in p
                else "",
                escape(_text(p.get("assumption", ""), f"{name} assumption")),
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
        raise _bad("notes", "a list of strings", notes)
    if not notes:
        return []
    items = "".join(f"<li>{escape(_text(n, 'notes[]'))}</li>" for n in notes)
    return ["<h2>Notes</h2>", f"<ul>{items}</ul>"]
