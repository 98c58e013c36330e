"""The cost report's HTML page: one well-formed, self-contained document (no scripts, nothing
fetched), users' strings escaped, each platform drawn and labelled, the log scales putting
values on the right pixels, and the optional parts left out cleanly."""

from __future__ import annotations

import copy
import math
import xml.etree.ElementTree as ET
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from faaskit.cost.html import (
    PLATFORM_COLOURS,
    PLATFORM_NAMES,
    money_text,
    rate_text,
    render_html,
    write_html,
)
from faaskit.errors import ValidationError

EVIL = "<img src=x onerror=alert(1)>"
PLATFORMS = ("aws-lambda", "azure-consumption", "azure-flex", "cloud-run")
RPS = [0.01, 0.1, 1, 10, 100, 1000, 10000]
VM = [63.1, 63.1, 63.1, 63.1, 126.2, 1262.0, 12620.0]
# Lambda costs $10 a month per req/s: a straight line of slope 1 on log-log axes. It meets
# the VM's $63.10 at 6.31 req/s and 30% of it ($18.93) at 1.893 req/s.
LAMBDA = [0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0, 100000.0]


def sample() -> dict[str, Any]:
    """The shape CostReport.to_dict() gives, with memory curves and patterns."""
    return {
        "app": 'shop & "co" <b>',
        "generated_at": "2026-12-03T08:00:00+00:00",
        "currency": "USD",
        "hours_per_month": 730,
        "arch": "arm64",
        "profile": {
            "name": "demo",
            "mean_rps": 2.0,
            "peak_rps": 3.84,
            "peak_to_mean": 1.92,
            "requests_a_month": 5256000,
            "cold_share": 0.01,
            "description": "demo: 2 req/s mean, a working day's shape",
        },
        "records": {"count": 412, "functions": 3},
        "functions": [
            function("create_order", "http", 256, {"aws-lambda": 1.23, "cloud-run": 0.9}),
            function(EVIL, "message", 128, {"aws-lambda": 0.5, "azure-flex": 0.7}),
            function("list_products", "http", 512, {"aws-lambda": 2.0}),
        ],
        "platforms": [
            {
                "platform": "aws-lambda",
                "monthly": 20.0,
                "items": {"compute": 12.0, "requests": 1.05, "gateway": 6.95},
                "saving": 0.683,  # 1 - 20 / 63.1
                "break_even_rps": 6.31,
                "seventy_rps": 1.893,
            },
            platform("azure-consumption", 8.0, 0.8732, None, None),
            platform("azure-flex", 90.0, -0.4263, 0, 0),
            platform("cloud-run", 30.0, 0.5246, 25.0, 0.9),
        ],
        "vm": {
            "platform": "vm",
            "monthly": 63.1,
            "fleet": "1 x m7g.large (2 vCPU) serve a peak of 3.84 req/s at 60% CPU",
            "instance": "m7g.large",
            "count": 1,
            "items": {"instances": 59.45, "public IPv4": 3.65},
        },
        "verdicts": [
            verdict(name, scale, monthly)
            for name, monthlies in {
                "aws-lambda": (20.0, 200.0, 2000.0),
                "azure-consumption": (8.0, 80.0, 800.0),
                "azure-flex": (90.0, 120.0, 900.0),
                "cloud-run": (30.0, 300.0, 3000.0),
            }.items()
            for scale, monthly in zip((1, 10, 100), monthlies, strict=True)
        ],
        "curves": {
            "rps": RPS,
            "platforms": {
                "aws-lambda": LAMBDA,
                "azure-consumption": [0.0, 0.4, 4.0, 40.0, 400.0, 4000.0, 40000.0],
                "azure-flex": [80.0, 80.0, 85.0, 130.0, 600.0, 5000.0, 50000.0],
                "cloud-run": [0.01, 1.5, 15.0, 150.0, 1500.0, 15000.0, 150000.0],
            },
            "vm": VM,
        },
        "memory": [
            {
                "function": EVIL,
                "best_mb": 512,
                "points": [
                    point(128, 12.0, 9.0, 14.0, 1.1, 1.0, 1.2),
                    point(256, 7.0, 5.0, 8.0, 0.95, 0.9, 1.0),
                    point(512, 4.0, 3.0, 5.0, 0.84, 0.8, 0.9),
                    point(1024, 3.0, 2.5, 4.0, 1.3, 1.2, 1.5),
                ],
            }
        ],
        "patterns": [
            {
                "pattern": "right-sized memory",
                "before": "1,024 MB for every function",
                "after": "each at its cheapest size",
                "before_monthly": 20.0,
                "after_monthly": 8.0,
                "saving": 0.6,
                "assumption": f"the {EVIL} function scales with CPU share",
            }
        ],
        "notes": ["free tiers are per account: the report prices without them", EVIL],
    }


def function(name: str, trigger: str, memory: int, monthly: dict[str, float]) -> dict[str, Any]:
    return {
        "function": name,
        "trigger": trigger,
        "count": 40,
        "requests": 1314000,
        "memory_mb": memory,
        "duration_ms": 3.21,
        "measured_ms": 3.0,
        "cpu_share": 0.8,
        "cold_share": 0.01,
        "init_ms": 120.0,
        "monthly": monthly,
    }


def platform(
    name: str, monthly: float, saving: float, even: float | None, seventy: float | None
) -> dict[str, Any]:
    return {
        "platform": name,
        "monthly": monthly,
        "items": {"compute": monthly},
        "saving": saving,
        "break_even_rps": even,
        "seventy_rps": seventy,
    }


def verdict(name: str, scale: int, monthly: float) -> dict[str, Any]:
    saving = round(1 - monthly / 63.1, 4)
    return {
        "platform": name,
        "scale": scale,
        "mean_rps": 2.0 * scale,
        "monthly": monthly,
        "vm_monthly": 63.1,
        "saving": saving,
        "holds": saving >= 0.7,
    }


def point(mb: int, ms: float, low: float, high: float, cost: float, cl: float, ch: float) -> Any:
    return {
        "memory_mb": mb,
        "duration_ms": ms,
        "low_ms": low,
        "high_ms": high,
        "cost_per_million": cost,
        "cost_low": cl,
        "cost_high": ch,
    }


def parse(page: str) -> ET.Element:
    """The whole page as XML: raises if any tag is unbalanced or any string unescaped."""
    return ET.fromstring(page.removeprefix("<!DOCTYPE html>\n"))


def svgs(root: ET.Element) -> list[ET.Element]:
    return list(root.iter("svg"))


def pairs(points: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in (p.split(",") for p in points.split())]


def line_of(chart: ET.Element, name: str) -> list[tuple[float, float]]:
    """The main polyline drawn in ``name``'s colour (not its pale 70% stroke)."""
    (line,) = [
        p
        for p in chart.iter("polyline")
        if p.get("stroke") == PLATFORM_COLOURS[name] and p.get("stroke-opacity") is None
    ]
    return pairs(line.get("points", ""))


# --- formats, by hand (the scales are in test_cost_svg.py) ------------------------------------


def test_money_and_rates_read_as_people_write_them() -> None:
    assert money_text(1234.56) == "$1,234.56"
    assert money_text(2.675) == "$2.68"  # half up from the decimal 2.675 (a float gives 2.67)
    assert money_text(-0.5) == "-$0.50"
    assert rate_text(12.34) == "12.3 req/s"
    assert rate_text(2.0) == "2 req/s"
    assert rate_text(0.25) == "0.25 req/s"
    assert rate_text(1480.2) == "1,480 req/s"


# --- the page as a document -----------------------------------------------------------------


def test_the_page_is_one_well_formed_document_that_fetches_and_runs_nothing() -> None:
    page = render_html(sample())
    root = parse(page)

    assert root.tag == "html"
    tags = {element.tag for element in root.iter()}
    assert not tags & {"script", "link", "img", "iframe", "object", "embed", "image", "use"}
    attributes = {name for element in root.iter() for name in element.attrib}
    assert not {a for a in attributes if a in ("src", "href") or a.startswith("on")}
    assert "http://" not in page and "https://" not in page
    style = "".join(e.text or "" for e in root.iter("style"))
    assert "url(" not in style and "@import" not in style
    assert len(svgs(root)) == 3  # the rate chart, and cost and duration for one function


def test_users_strings_appear_escaped_only() -> None:
    page = render_html(sample())

    assert "<img" not in page
    assert "onerror=alert(1)&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<b>" not in page and "shop &amp; &quot;co&quot; &lt;b&gt;" in page
    root = parse(page)
    assert root.findtext("head/title") == 'What shop & "co" <b> costs'
    cells = [td.text for td in root.iter("td")]
    assert EVIL in cells  # the functions table shows the name as text
    assert EVIL in [li.text for li in root.iter("li")]


def test_the_verdict_paragraph_gives_every_platform_a_sentence() -> None:
    root = parse(render_html(sample()))
    paragraph = next(p.text or "" for p in root.iter("p") if (p.text or "").startswith("AWS"))

    # Lambda: 1 - 20/63.1 = 68%; 1 - 200/63.1 = -217%; 1 - 2000/63.1 = -3070%.
    assert paragraph.startswith(
        "AWS Lambda: 68% cheaper than the VM fleet at the profile (2 req/s; 70% fails); "
        "217% dearer at 10x (20 req/s; 70% fails); 3,070% dearer at 100x (200 req/s; 70% fails); "
        "breaks even at 6.31 req/s, 70% cheaper below 1.89 req/s."
    )
    # Consumption never meets the fleet below 100,000 req/s; Flex is dearer from the start.
    assert (
        "Azure Consumption: 87% cheaper than the VM fleet at the profile (2 req/s; 70% holds)"
        in (paragraph)
    )
    assert "cheaper up to 100,000 req/s, 70% cheaper up to 100,000 req/s." in paragraph
    assert "never cheaper than the fleet, never 70% cheaper." in paragraph
    assert "Cloud Run: " in paragraph


def test_the_tables_show_limits_and_verdicts_in_words_not_colour() -> None:
    root = parse(render_html(sample()))
    rows = [[cell.text or "".join(cell.itertext()) for cell in tr] for tr in root.iter("tr")]

    assert ["AWS Lambda", "$20.00", "68% cheaper", "6.31 req/s", "1.89 req/s"] in rows
    assert ["Azure Consumption", "$8.00", "87% cheaper"] + ["above 100,000 req/s"] * 2 in rows
    assert ["Azure Flex", "$90.00", "43% dearer", "never", "never"] in rows
    assert ["VM fleet", "$63.10", "", "", ""] in rows
    # 1 - 8/63.1 = 0.8732 holds; 1 - 80/63.1 = -0.2678 fails.
    assert [
        "Azure Consumption",
        "1x",
        "2 req/s",
        "$8.00",
        "$63.10",
        "87% cheaper",
        "✓ holds",
    ] in rows
    assert [
        "Azure Consumption",
        "10x",
        "20 req/s",
        "$80.00",
        "$63.10",
        "27% dearer",
        "✗ fails",
    ] in (rows)
    # The functions table: every platform's column, blank where a function has no bill.
    header = next(r for r in rows if r[:2] == ["Function", "Trigger"])
    assert header[-4:] == [PLATFORM_NAMES[p] for p in PLATFORMS]
    create_order = ["create_order", "http", "40", "1,314,000", "256", "3.21", "80%"]
    assert [*create_order, "$1.23", "", "", "$0.90"] in rows
    pattern = next(r for r in rows if r[0] == "right-sized memory")
    assert pattern[3:6] == ["$20.00", "$8.00", "60% cheaper"]


# --- the rate chart -------------------------------------------------------------------------


def test_every_platform_and_the_vm_are_drawn_and_named_in_the_rate_chart() -> None:
    chart = svgs(parse(render_html(sample())))[0]
    labels = ["".join(t.itertext()) for t in chart.iter("text")]

    for name in (*PLATFORMS, "vm"):
        assert len(line_of(chart, name)) == len(RPS)
        assert labels.count(PLATFORM_NAMES[name]) == 2  # at the line's end and in the legend
    vm_lines = [p for p in chart.iter("polyline") if p.get("stroke") == PLATFORM_COLOURS["vm"]]
    assert all(p.get("stroke-dasharray") for p in vm_lines)  # the VM is told by its dashes too
    assert "$0.01" in labels and "$100,000" in labels  # a tick at each power of ten
    assert "0.01" in labels and "10,000" in labels
    assert "profile: 2 req/s" in labels


def test_polylines_are_monotone_in_x_and_keep_a_log_log_straight_line_straight() -> None:
    chart = svgs(parse(render_html(sample())))[0]
    for name in (*PLATFORMS, "vm"):
        xs = [x for x, _ in line_of(chart, name)]
        assert xs == sorted(xs) and len(set(xs)) == len(xs)

    # Lambda is $10 per req/s: every decade of rate is one decade of cost, so successive
    # points are one and the same step apart; dy is then the height of a decade of cost.
    lam = line_of(chart, "aws-lambda")
    steps = {(round(b[0] - a[0], 1), round(b[1] - a[1], 1)) for a, b in pairwise(lam)}
    assert len(steps) == 1
    (dx, dy) = steps.pop()
    assert dx > 0 and dy < 0  # rightwards and up the page
    vm = line_of(chart, "vm")
    assert vm[0][1] == vm[3][1]  # $63.10 flat from 0.01 to 10 req/s
    # 63.1 -> 126.2 at 100 req/s: up the page by log10(2) = 0.301 of a decade.
    assert vm[3][1] - vm[4][1] == pytest.approx(-dy * math.log10(2), abs=0.02)
    # Azure Consumption's $0.00 at 0.01 req/s sits on the axis floor: $0.01, one decade below
    # its $0.40 at 0.1 req/s less log10(4) of a decade.
    azure = line_of(chart, "azure-consumption")
    assert azure[0][1] - azure[1][1] == pytest.approx(-dy * (1 + math.log10(4)), abs=0.02)


def test_the_break_even_marker_sits_on_the_line_with_its_rate() -> None:
    chart = svgs(parse(render_html(sample())))[0]
    labels = ["".join(t.itertext()) for t in chart.iter("text")]
    assert "AWS Lambda = VM at 6.31 req/s" in labels
    assert "Cloud Run = VM at 25 req/s" in labels
    assert not [t for t in labels if t.startswith(("Azure Flex =", "Azure Consumption ="))]

    lam = line_of(chart, "aws-lambda")
    (marker,) = [
        c for c in chart.iter("circle") if c.get("stroke") == PLATFORM_COLOURS["aws-lambda"]
    ]
    cx, cy = float(marker.get("cx", "")), float(marker.get("cy", ""))
    # 6.31 req/s is log10(6.31) = 0.800 of the way from the 1 req/s point to the 10 req/s
    # one, on the straight segment between them.
    (x1, y1), (x10, y10) = lam[2], lam[3]
    assert cx == pytest.approx(x1 + math.log10(6.31) * (x10 - x1), abs=0.02)
    assert cy == pytest.approx(y1 + math.log10(6.31) * (y10 - y1), abs=0.02)


def test_the_seventy_percent_stretch_runs_to_the_seventy_rate() -> None:
    chart = svgs(parse(render_html(sample())))[0]
    pale = {
        p.get("stroke"): pairs(p.get("points", ""))
        for p in chart.iter("polyline")
        if p.get("stroke-opacity")
    }
    lam = line_of(chart, "aws-lambda")
    # Lambda's ends at 1.893 req/s: past the 1 req/s point by log10(1.893) = 0.277 of a decade.
    assert pale[PLATFORM_COLOURS["aws-lambda"]][:-1] == lam[:3]
    end_x = pale[PLATFORM_COLOURS["aws-lambda"]][-1][0]
    assert end_x == pytest.approx(lam[2][0] + math.log10(1.893) * (lam[3][0] - lam[2][0]), abs=0.02)
    # Consumption's runs the whole range (None: still 70% cheaper at 100,000 req/s); Flex has none.
    assert pale[PLATFORM_COLOURS["azure-consumption"]] == line_of(chart, "azure-consumption")
    assert PLATFORM_COLOURS["azure-flex"] not in pale


# --- per function ---------------------------------------------------------------------------


def test_the_memory_charts_band_the_estimate_and_ring_the_best_size() -> None:
    root = parse(render_html(sample()))
    cost, duration = svgs(root)[1:]
    assert f"{EVIL}: best at 512 MB" in [h.text for h in root.iter("h3")]
    for chart in (cost, duration):
        (line,) = chart.iter("polyline")
        middle = pairs(line.get("points", ""))
        (polygon,) = chart.iter("polygon")
        band = pairs(polygon.get("points", ""))
        highs, lows = band[:4], band[4:][::-1]
        for high, mid, low in zip(highs, middle, lows, strict=True):
            assert high[0] == mid[0] == low[0]
            assert high[1] <= mid[1] <= low[1]  # y grows down the page
        (ring,) = chart.iter("circle")
        assert (float(ring.get("cx", "")), float(ring.get("cy", ""))) == middle[2]  # 512 MB
    labels = ["".join(t.itertext()) for t in cost.iter("text")]
    assert "best 512 MB: $0.84" in labels
    assert [t for t in labels if t[0].isdigit()] == ["128", "256", "512", "1,024"]


def test_tuning_shaped_points_draw_the_same_charts() -> None:
    # faaskit.cost.tuning's TuningPoint.to_dict() nests the figures; the charts are the same.
    flat = sample()
    nested = sample()
    nested["memory"][0]["points"] = [
        {
            "memory_mb": p["memory_mb"],
            "duration_ms": {"estimate": p["duration_ms"], "low": p["low_ms"], "high": p["high_ms"]},
            "per_million": {
                "compute": 0.5,
                "total": p["cost_per_million"],
                "low": p["cost_low"],
                "high": p["cost_high"],
            },
        }
        for p in flat["memory"][0]["points"]
    ]
    assert render_html(nested) == render_html(flat)


# --- optional parts and bad documents -------------------------------------------------------


def test_missing_optional_parts_render_without_them() -> None:
    document = sample()
    for key in ("memory", "patterns", "notes", "functions", "records", "generated_at"):
        del document[key]
    document["platforms"][0]["break_even_rps"] = None
    document["platforms"][0]["seventy_rps"] = None
    root = parse(render_html(document))

    headings = [h.text for h in root.iter("h2")]
    assert "Notes" not in headings and len(svgs(root)) == 1
    assert not [h for h in headings if "pattern" in (h or "") or "Per function" in (h or "")]
    chart = svgs(root)[0]
    labels = ["".join(t.itertext()) for t in chart.iter("text")]
    assert not [t for t in labels if t.startswith("AWS Lambda =")]  # no break-even to mark
    rows = [[c.text for c in tr] for tr in root.iter("tr")]
    assert ["AWS Lambda", "$20.00", "68% cheaper"] + ["above 100,000 req/s"] * 2 in rows

    bare = parse(render_html({"app": "bare"}))
    assert bare.findtext("body/main/h1") == "What bare costs" and not svgs(bare)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["platforms"][0].update(monthly="12"), "aws-lambda monthly should be a number"),
        (lambda d: d["curves"]["platforms"]["aws-lambda"].pop(), "7 costs, one per rate"),
        (lambda d: d.update(verdicts={"a": 1}), "verdicts should be a list of objects"),
        (lambda d: d["profile"].update(mean_rps=float("nan")), "profile.mean_rps"),
        (lambda d: d["verdicts"][0].pop("monthly"), r"verdicts\[\].monthly .* not None"),
        (lambda d: d["curves"]["rps"].reverse(), "curves.rps should be positive rates, rising"),
        (lambda d: d["memory"][0].update(points=[1, 2]), "points should be a list of objects"),
    ],
)
def test_a_malformed_document_is_one_clear_error(change: Any, message: str) -> None:
    document = copy.deepcopy(sample())
    change(document)
    with pytest.raises(ValidationError, match=message):
        render_html(document)


def test_write_html_writes_the_page(tmp_path: Path) -> None:
    target = tmp_path / "cost.html"
    written = write_html(sample(), str(target))

    assert written == target
    assert target.read_text(encoding="utf-8") == render_html(sample())
    with pytest.raises(ValidationError, match="cannot write"):
        write_html(sample(), tmp_path / "no" / "such" / "dir.html")
    with pytest.raises(ValidationError):
        write_html({"app": "x", "platforms": "bad"}, tmp_path / "bad.html")
    assert not (tmp_path / "bad.html").exists()  # nothing half-written
