"""The cost report's two charts, drawn from its JSON document with :mod:`faaskit.cost.svg`:
the month on each platform against the request rate (the VM fleet, its 30%, where each
platform breaks even with it and stays 70% cheaper), and each function's cost and duration
against Lambda memory. :mod:`faaskit.cost.html` places them on the page.

Both charts and the page share what lives here as well: the platforms' names and colours, the
numbers in words (``$1,234.56``, ``12.3 req/s``) and the checked reading of the document, where
a value of the wrong type is a :class:`~faaskit.errors.ValidationError` naming it.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Callable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from html import escape
from itertools import pairwise
from typing import Any

from faaskit.cost import svg
from faaskit.errors import ValidationError

__all__ = [
    "PLATFORM_COLOURS",
    "PLATFORM_NAMES",
    "bad",
    "figures",
    "mapping",
    "maybe_number",
    "memory_charts",
    "money_text",
    "number",
    "objects",
    "platform_colour",
    "platform_name",
    "platform_order",
    "rate_chart",
    "rate_text",
    "string",
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

_FLOOR = 0.01  # a cent: the log axes' lowest money value (a $0.00 month sits on it)


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
    return f"{figures(rps)} req/s"


def figures(value: float) -> str:
    """Three significant figures, grouped, no exponent below a million: ``1,480``, ``0.25``."""
    return f"{float(f'{value:.3g}'):,g}"


def platform_name(platform: str) -> str:
    """``AWS Lambda`` for ``aws-lambda``; a platform the report does not know, as given."""
    return PLATFORM_NAMES.get(platform, platform)


def platform_colour(platform: str, order: Sequence[str]) -> str:
    """The platform's fixed colour; others take the spare ones in ``order``."""
    if platform in PLATFORM_COLOURS:
        return PLATFORM_COLOURS[platform]
    others = [p for p in order if p not in PLATFORM_COLOURS]
    index = others.index(platform) if platform in others else 0
    return _OTHER_COLOURS[index % len(_OTHER_COLOURS)]


# --- reading the document -------------------------------------------------------------------


def bad(where: str, what: str, value: object) -> ValidationError:
    """The error for ``value`` at ``where`` in the document, which should be ``what``."""
    return ValidationError(
        f"cost report document: {where} should be {what}, not {reprlib.repr(value)}"
    )


def number(value: object, where: str) -> float:
    """``value`` as a float: a finite JSON number (not a boolean)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise bad(where, "a number", value)
    return float(value)


def maybe_number(value: object, where: str) -> float | None:
    """:func:`number`, or ``None`` for a JSON null."""
    return None if value is None else number(value, where)


def string(value: object, where: str) -> str:
    """``value`` as text: a JSON string, or a number written as one."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise bad(where, "a string", value)
    return str(value)


def objects(document: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    """The list of objects at ``key`` (empty when it is missing)."""
    value = document.get(key) or []
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise bad(key, "a list of objects", value)
    return value


def mapping(document: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """The object at ``key`` (empty when it is missing)."""
    value = document.get(key) or {}
    if not isinstance(value, Mapping):
        raise bad(key, "an object", value)
    return value


def platform_order(document: Mapping[str, Any]) -> list[str]:
    """The platforms as the document lists them, then any only its verdicts name."""
    names = [
        string(p.get("platform"), "platforms[].platform") for p in objects(document, "platforms")
    ]
    for verdict in objects(document, "verdicts"):
        name = string(verdict.get("platform"), "verdicts[].platform")
        if name not in names:
            names.append(name)
    return names


# --- chart 1: monthly cost against request rate ---------------------------------------------


def rate_chart(document: Mapping[str, Any]) -> list[str]:
    """The section of the month against the rate: a heading and the captioned chart (nothing
    when the document has no curves)."""
    rps, lines = _curves(document)
    if not lines:
        return []
    width, height = 760, 460
    x = svg.log_scale(*svg.decades(rps), 76, width - 150)
    y = svg.log_scale(
        *svg.decades([v for vs in lines.values() for v in vs], _FLOOR), height - 96, 28
    )
    order = [*platform_order(document), "vm"]
    platforms = {p["platform"]: p for p in objects(document, "platforms")}
    parts = svg.axes(
        x,
        y,
        [(v, rate_text(v).removesuffix(" req/s")) for v in svg.powers(x.low, x.high)],
        [(v, _money_tick(v)) for v in svg.powers(y.low, y.high)],
        "mean request rate at the front door (req/s, log scale)",
        "USD a month (log scale)",
    )
    parts += _profile_marker(document, x, y)
    parts += _cost_lines(lines, platforms, rps, x, y, order)
    parts += _break_even_markers(lines, platforms, rps, x, y, order)
    keys = [
        svg.Key(platform_name(n), platform_colour(n, order), _dashes(n))
        for n in order
        if n in lines
    ]
    keys += [
        svg.Key("30% of the VM: below it, 70% cheaper", "#777777", "2 3", 1),
        svg.Key("where a platform stays 70% cheaper", "#777777", None, 9, 0.22),
    ]
    parts += svg.legend(keys, x.start - 40, height - 34, width - 10)
    figure = svg.image(width, height, "Monthly cost against mean request rate, per platform", parts)
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
    curves = mapping(document, "curves")
    if not curves.get("rps"):
        return [], {}
    rps = [number(v, "curves.rps[]") for v in curves["rps"]]
    if rps[0] <= 0 or any(b <= a for a, b in pairwise(rps)):
        raise bad("curves.rps", "positive rates, rising", curves["rps"])
    lines = {
        name: [number(v, f"curves.platforms.{name}[]") for v in values]
        for name, values in mapping(curves, "platforms").items()
    }
    if curves.get("vm"):
        lines["vm"] = [number(v, "curves.vm[]") for v in curves["vm"]]
    for name, values in lines.items():
        if len(values) != len(rps):
            raise bad(f"curves {name}", f"{len(rps)} costs, one per rate", values)
    return rps, lines


def _dashes(platform: str) -> str | None:
    return "7 5" if platform == "vm" else None  # the fleet is told by its dashes, not only colour


def _cost_lines(
    lines: Mapping[str, Sequence[float]],
    platforms: Mapping[str, Mapping[str, Any]],
    rps: Sequence[float],
    x: svg.Scale,
    y: svg.Scale,
    order: Sequence[str],
) -> list[str]:
    """The VM's 30% dotted; each line, under it a wide pale stroke up to its 70% rate (the
    whole way when that is past the range, none when it is 0); a name at each line's end."""
    parts = []
    if "vm" in lines:
        dotted = [v * 0.3 for v in lines["vm"]]
        points = svg.points(rps, dotted, x, y)
        parts.append(svg.polyline(points, "#777777", stroke_width=1, stroke_dasharray="2 3"))
    for name, values in lines.items():
        colour = platform_colour(name, order)
        if name != "vm" and "seventy_rps" in platforms.get(name, {}):
            seventy = maybe_number(platforms[name]["seventy_rps"], f"{name} seventy_rps")
            if seventy != 0:
                stretch = _until(rps, values, x.high if seventy is None else seventy, x, y)
                if len(stretch) > 1:  # a 70% rate below the first rate leaves nothing to draw
                    parts.append(svg.polyline(stretch, colour, stroke_width=9, stroke_opacity=0.22))
        points = svg.points(rps, values, x, y)
        parts.append(svg.polyline(points, colour, stroke_dasharray=_dashes(name)))
    last = rps.index(max(rps))
    ends = svg.spread([y(values[last]) + 4 for values in lines.values()], 13)
    for name, end in zip(lines, ends, strict=True):
        parts.append(
            svg.label(x.end + 6, end, platform_name(name), fill=platform_colour(name, order))
        )
    return parts


def _money_tick(value: float) -> str:
    return f"${value:,.0f}" if value >= 1 else f"${value:.2f}"


def _until(
    xs: Sequence[float], ys: Sequence[float], limit: float, x: svg.Scale, y: svg.Scale
) -> list[tuple[float, float]]:
    """The curve from its start up to ``limit`` (the last piece interpolated)."""
    kept = [(a, b) for a, b in zip(xs, ys, strict=True) if a <= limit]
    if min(xs) < limit < max(xs) and limit not in xs:
        kept.append((limit, svg.interpolate(xs, ys, limit, _FLOOR)))
    return sorted((x(a), y(b)) for a, b in kept)


def _profile_marker(document: Mapping[str, Any], x: svg.Scale, y: svg.Scale) -> list[str]:
    profile = mapping(document, "profile")
    if "mean_rps" not in profile:
        return []
    mean = number(profile.get("mean_rps"), "profile.mean_rps")
    if not x.low <= mean <= x.high:
        return []
    px = x(mean)
    return [
        svg.line(px, y.start, px, y.end, stroke="#444444", stroke_width=1, stroke_dasharray="4 3"),
        svg.label(px + 4, y.end + 12, f"profile: {rate_text(mean)}", fill="#444444", **svg.HALO),
    ]


def _break_even_markers(
    lines: Mapping[str, Sequence[float]],
    platforms: Mapping[str, Mapping[str, Any]],
    rps: Sequence[float],
    x: svg.Scale,
    y: svg.Scale,
    order: Sequence[str],
) -> list[str]:
    """A ring where each platform's line meets the fleet's, labelled with the rate. The
    crossings sit near one another on the fleet's line, so the labels are stacked upwards
    a row apart, each tied to its ring by a thin line."""
    rings = []
    for name, values in lines.items():
        where = f"{name} break_even_rps"
        even = maybe_number(platforms.get(name, {}).get("break_even_rps"), where)
        if even and x.low <= even <= x.high:
            rings.append((name, even, x(even), y(svg.interpolate(rps, values, even, _FLOOR))))
    heights = [-h for h in svg.spread([-(py - 8) for *_, py in rings], 14)]
    parts = []
    for (name, even, px, py), height in zip(rings, heights, strict=True):
        colour = platform_colour(name, order)
        parts.append(svg.circle(px, py, 5, fill="#ffffff", stroke=colour, stroke_width=2))
        if py - height > 12:
            parts.append(
                svg.line(px + 3, py - 4, px + 7, height + 2, stroke=colour, stroke_width=1)
            )
        text = f"{platform_name(name)} = VM at {rate_text(even)}"
        parts.append(svg.label(px + 7, height, text, fill=colour, **svg.HALO))
    return parts


# --- chart 2, per function: cost and duration against memory --------------------------------


def memory_charts(entry: Mapping[str, Any]) -> list[str]:
    """A function's heading and its pair of charts, cost and duration against memory (nothing
    when the entry has no points)."""
    function = string(entry.get("function"), "memory[].function")
    points = sorted(
        objects(entry, "points"),
        key=lambda p: number(p.get("memory_mb"), f"{function} memory_mb"),
    )
    if not points:
        return []
    best = maybe_number(entry.get("best_mb"), f"{function} best_mb")
    sizes = [number(p.get("memory_mb"), f"{function} memory_mb") for p in points]
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
            lambda v: f"{figures(v)} ms",
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
        middle.append(number(triple[0], where))
        lows.append(number(triple[1], f"{where} low"))
        highs.append(number(triple[2], f"{where} high"))
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
    top, tick = svg.nice_top(max(highs))
    y = svg.Scale(0, top, height - 48, 24)
    y_ticks = [(tick * i, fmt(tick * i)) for i in range(round(top / tick) + 1)]
    parts = svg.axes(svg.Scale(0, 1, left, width - 8), y, [], y_ticks, "memory (MB)", unit)
    for px, size in zip(slots, sizes, strict=True):
        parts.append(svg.label(px, y.start + 16, f"{size:,.0f}", text_anchor="middle", font_size=9))
    band = [(px, y(h)) for px, h in zip(slots, highs, strict=True)]
    band += [(px, y(lo)) for px, lo in reversed(list(zip(slots, lows, strict=True)))]
    parts.append(svg.polygon(band, fill="#0072b2", fill_opacity=0.18))
    parts.append(svg.polyline([(px, y(m)) for px, m in zip(slots, middle, strict=True)], "#0072b2"))
    if best is not None and best in sizes:
        index = sizes.index(best)
        px, py = slots[index], y(middle[index])
        parts.append(svg.circle(px, py, 6, fill="none", stroke="#d55e00", stroke_width=2))
        text = f"best {best:,.0f} MB: {fmt(middle[index])}"
        parts.append(svg.label(px, py - 10, text, text_anchor="middle", fill="#d55e00", **svg.HALO))
    return svg.image(width, height, title, parts)
