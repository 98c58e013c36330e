"""Hand-built SVG for small charts: scales (linear and log10), ticks, axes, lines, markers,
labels and legend entries, each a function returning markup. Nothing here knows the cost
report; :mod:`faaskit.cost.charts` draws the report's charts with these pieces.

    x, y = log_scale(0.01, 1000, 60, 560), Scale(0, 10, 200, 20)
    parts = [*axes(x, y, [(1, "1")], [(5, "5")], "rate", "cost")]
    parts.append(polyline(points(xs, ys, x, y), "#0072b2"))
    chart = image(600, 240, "cost against rate", parts)

Every attribute value and text is escaped, so a label may hold any string.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from itertools import pairwise

from faaskit.errors import ValidationError

__all__ = [
    "HALO",
    "Key",
    "Scale",
    "attrs",
    "axes",
    "circle",
    "decades",
    "image",
    "interpolate",
    "label",
    "legend",
    "line",
    "log_scale",
    "nice_top",
    "points",
    "polygon",
    "polyline",
    "powers",
    "spread",
]

# --- scales and ticks -----------------------------------------------------------------------


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


def decades(values: Iterable[float], floor: float = 0.0) -> tuple[float, float]:
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


def powers(low: float, high: float) -> list[float]:
    """The powers of ten from ``low`` to ``high`` (both powers of ten): a log axis's ticks."""
    first, last = round(math.log10(low)), round(math.log10(high))
    return [10.0**e for e in range(first, last + 1)]


def nice_top(value: float) -> tuple[float, float]:
    """A round axis top at or above ``value`` and its tick step (1, 2 or 5 x 10^k)."""
    if value <= 0:
        return 1.0, 0.25
    magnitude = 10.0 ** math.floor(math.log10(value / 4))
    step = next(m * magnitude for m in (1, 2, 5, 10) if value / (m * magnitude) <= 5)
    return math.ceil(value / step - 1e-9) * step, step


# --- markup ---------------------------------------------------------------------------------


def attrs(**attributes: object) -> str:
    """`` name="value"`` pairs, escaped; ``stroke_width`` is written ``stroke-width`` (a
    trailing ``_`` dropped) and a ``None`` value is left out."""
    return "".join(
        f' {key.rstrip("_").replace("_", "-")}="{escape(str(value))}"'
        for key, value in attributes.items()
        if value is not None
    )


def line(x1: float, y1: float, x2: float, y2: float, **style: object) -> str:
    """A straight line from (x1, y1) to (x2, y2)."""
    return f"<line{attrs(x1=x1, y1=y1, x2=x2, y2=y2, **style)} />"


HALO: Mapping[str, object] = {"stroke": "#ffffff", "stroke_width": 3, "paint_order": "stroke"}
"""A white outline under a label's letters, so it reads where it crosses a line."""


def label(x: float, y: float, text: str, **style: object) -> str:
    """``text`` at (x, y), 11 px unless ``font_size`` says otherwise."""
    style.setdefault("font_size", 11)
    return f"<text{attrs(x=x, y=y, **style)}>{escape(text)}</text>"


# --- lines, shapes and the picture ---------------------------------------------------------


def points(
    xs: Sequence[float], ys: Sequence[float], x: Scale, y: Scale
) -> list[tuple[float, float]]:
    """The pixels of (xs, ys), in x order."""
    return sorted((x(a), y(b)) for a, b in zip(xs, ys, strict=True))


def _drawn(pixels: Iterable[tuple[float, float]]) -> str:
    return " ".join(f"{px:g},{py:g}" for px, py in pixels)


def polyline(points: Sequence[tuple[float, float]], colour: str, **style: object) -> str:
    """An unfilled line through ``points`` (pixels), 2 px wide unless ``stroke_width`` says."""
    style.setdefault("stroke_width", 2)
    return f'<polyline fill="none"{attrs(points=_drawn(points), stroke=colour, **style)} />'


def polygon(points: Sequence[tuple[float, float]], **style: object) -> str:
    """A closed shape through ``points`` (pixels): a band, when they go out along its top
    and back along its bottom."""
    return f"<polygon{attrs(points=_drawn(points), **style)} />"


def circle(cx: float, cy: float, r: float, **style: object) -> str:
    """A circle (a marker or a ring) of radius ``r`` around (cx, cy)."""
    return f"<circle{attrs(cx=cx, cy=cy, r=r, **style)} />"


def image(width: int, height: int, title: str, parts: Iterable[str]) -> str:
    """The ``<svg>`` element of ``parts`` on a white ground, titled for screen readers."""
    box = f"0 0 {width} {height}"
    return "\n".join(
        [
            f"<svg{attrs(width=width, height=height, viewBox=box, role='img')}>",
            f"<title>{escape(title)}</title>",
            f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff" />',
            *parts,
            "</svg>",
        ]
    )


def axes(
    x: Scale,
    y: Scale,
    x_ticks: Sequence[tuple[float, str]],
    y_ticks: Sequence[tuple[float, str]],
    x_title: str,
    y_title: str,
) -> list[str]:
    """Grid lines and labels at the ticks (value, words), the two axis lines and their
    titles: x along ``y.start``, y up from ``x.start``."""
    left, right, bottom, top = x.start, x.end, y.start, y.end
    parts = []
    for value, text in y_ticks:
        py = y(value)
        parts.append(line(left, py, right, py, stroke="#e3e3e3"))
        parts.append(label(left - 6, py + 4, text, text_anchor="end"))
    for value, text in x_ticks:
        px = x(value)
        parts.append(line(px, top, px, bottom, stroke="#eeeeee"))
        parts.append(label(px, bottom + 16, text, text_anchor="middle"))
    parts.append(line(left, bottom, right, bottom, stroke="#555555"))
    parts.append(line(left, bottom, left, top, stroke="#555555"))
    parts.append(
        label((left + right) / 2, bottom + 36, x_title, text_anchor="middle", font_size=12)
    )
    parts.append(label(left, top - 8, y_title, text_anchor="start", font_size=12))
    return parts


# --- placing labels and markers -----------------------------------------------------------


def spread(ys: Sequence[float], gap: float) -> list[float]:
    """Label heights moved apart by at least ``gap``, keeping their order (line-end labels
    of lines that end close together)."""
    order = sorted(range(len(ys)), key=lambda i: ys[i])
    out = list(ys)
    for before, index in pairwise(order):
        out[index] = max(out[index], out[before] + gap)
    return out


def interpolate(xs: Sequence[float], ys: Sequence[float], at: float, floor: float) -> float:
    """The curve's value at ``at``, straight between points on log-log axes (a value below
    ``floor``, such as 0, counts as ``floor``, where a log axis draws it)."""
    pairs = sorted(zip(xs, ys, strict=True))
    for (x0, y0), (x1, y1) in pairwise(pairs):
        if x0 <= at <= x1:
            a, b = max(y0, floor), max(y1, floor)
            t = (math.log10(at) - math.log10(x0)) / (math.log10(x1) - math.log10(x0))
            return 10 ** (math.log10(a) + t * (math.log10(b) - math.log10(a)))
    return pairs[0][1] if at < pairs[0][0] else pairs[-1][1]


# --- legend ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Key:
    """One legend entry: a short stroke drawn as its line is, and its words."""

    text: str
    colour: str
    dashes: str | None = None
    width: float = 2
    opacity: float | None = None


def legend(keys: Sequence[Key], left: float, top: float, right: float) -> list[str]:
    """Entries in rows under the chart, each as wide as its words (about 6 px a letter at 10 px)."""
    parts = []
    px, py = left, top
    for key in keys:
        span = 40 + 6.2 * len(key.text)
        if px + span > right and px > left:
            px, py = left, py + 16
        stroke = {"stroke_width": key.width, "stroke_opacity": key.opacity}
        parts.append(
            line(px, py, px + 22, py, stroke=key.colour, stroke_dasharray=key.dashes, **stroke)
        )
        parts.append(label(px + 27, py + 4, key.text, font_size=10))
        px += span
    return parts
