"""The SVG pieces the cost report's charts are drawn with (faaskit.cost.svg): scales put values
on the right pixels, axis ranges and ticks land on round numbers, labels keep apart, and the
markup is escaped. Every expected value is worked out by hand in the comment beside it."""

from __future__ import annotations

import math

import pytest

from faaskit.cost import html, svg
from faaskit.cost.svg import Key, Scale, log_scale
from faaskit.errors import ValidationError

# --- scales ---------------------------------------------------------------------------------


def test_log_scale_puts_each_decade_an_equal_distance_apart() -> None:
    # 0.01..1000 is 5 decades over 500 px: 100 px a decade; 1 is two decades up from 0.01.
    x = log_scale(0.01, 1000, 60, 560)
    assert (x(0.01), x(1), x(1000)) == (60, 260, 560)
    assert x(2) == pytest.approx(260 + 100 * math.log10(2), abs=0.005)  # 290.10, to 0.01 px
    # A y axis runs upwards: 0.01..100 over 400 -> 0 px, 100 px a decade.
    y = log_scale(0.01, 100, 400, 0)
    assert (y(1), y(10)) == (200, 100)
    assert y(0) == 400  # a $0.00 month sits on the axis floor, not at minus infinity
    with pytest.raises(ValidationError, match="0 < low < high"):
        log_scale(0, 10, 0, 100)


def test_a_linear_scale_and_the_names_the_page_still_exports() -> None:
    # 0..10 onto 200..20 (upwards): 5 is half way, 200 - 90 = 110; 2.5 is 200 - 45 = 155.
    y = Scale(0, 10, 200, 20)
    assert (y(0), y(5), y(2.5), y(10)) == (200, 110, 155, 20)
    assert html.Scale is Scale and html.log_scale is log_scale  # public names kept by the split


def test_decades_and_powers_enclose_the_values_in_whole_powers_of_ten() -> None:
    # 0.3 is in [0.1, 1), 45 in [10, 100); the 0 is left out (it has no logarithm).
    assert svg.decades([0.3, 0, 45]) == pytest.approx((0.1, 100))
    # 0.004 gives 0.001..0.01, but the floor lifts the bottom to 0.01: one decade up from it.
    assert svg.decades([0, 0.004], 0.01) == pytest.approx((0.01, 0.1))
    assert svg.powers(0.01, 100) == pytest.approx([0.01, 0.1, 1, 10, 100])


@pytest.mark.parametrize(
    ("value", "top", "step"),
    [
        (7.3, 8, 2),  # 7.3 in steps of 1 is 8 ticks (> 5), in steps of 2 is 3.65: up to 8
        (14, 15, 5),  # steps of 2 give 7 (> 5), of 5 give 2.8: up to 15
        (10, 10, 2),  # exactly 5 steps of 2: 10 is on a tick, no step more
        (0.84, 1.0, 0.2),  # 0.84 / 0.2 = 4.2 steps: up to 5 x 0.2
        (0, 1.0, 0.25),  # nothing to show: a unit axis in quarters
    ],
)
def test_nice_top_rounds_an_axis_up_to_a_tick_of_one_two_or_five(
    value: float, top: float, step: float
) -> None:
    assert svg.nice_top(value) == pytest.approx((top, step))


# --- placing --------------------------------------------------------------------------------


def test_interpolate_runs_straight_on_log_log_axes_and_counts_zero_as_the_floor() -> None:
    # From (1, 1) to (10, 100): at sqrt(10), half way in log x, so half way in log y: 10.
    assert svg.interpolate([1, 10], [1, 100], math.sqrt(10), 0.01) == pytest.approx(10)
    # A 0 counts as the floor 1, so the same line: 10 again.
    assert svg.interpolate([1, 10], [0, 100], math.sqrt(10), 1) == pytest.approx(10)
    # Outside the points: the nearest end's value, as given.
    assert svg.interpolate([1, 10], [0, 100], 0.5, 1) == 0
    assert svg.interpolate([1, 10], [0, 100], 20, 1) == 100


def test_spread_moves_labels_apart_in_their_order() -> None:
    # In height order 50, 100, 105: 100 is already 13 above 50; 105 must go to 100 + 13 = 113.
    assert svg.spread([100, 105, 50], 13) == [100, 113, 50]


# --- markup ---------------------------------------------------------------------------------


def test_markup_is_escaped_and_leaves_out_empty_attributes() -> None:
    assert svg.attrs(stroke_width=2, class_="a<b", fill=None) == ' stroke-width="2" class="a&lt;b"'
    assert svg.label(1, 2, "<b>&") == '<text x="1" y="2" font-size="11">&lt;b&gt;&amp;</text>'
    assert (
        svg.polygon([(1, 2), (3.5, 4)], fill="#fff") == '<polygon points="1,2 3.5,4" fill="#fff" />'
    )
    assert svg.polyline([(0, 1.25)], "#000") == (
        '<polyline fill="none" points="0,1.25" stroke="#000" stroke-width="2" />'
    )
    assert svg.circle(3, 4, 5, fill="none") == '<circle cx="3" cy="4" r="5" fill="none" />'
    picture = svg.image(40, 30, "a & b", ["<line />"])
    assert picture.startswith('<svg width="40" height="30" viewBox="0 0 40 30" role="img">')
    assert "<title>a &amp; b</title>" in picture and picture.endswith("<line />\n</svg>")


def test_the_legend_wraps_an_entry_that_would_pass_the_right_edge() -> None:
    # Each "ab" entry is 40 + 6.2 x 2 = 52.4 px wide: the second would end at 104.8 > 100,
    # so it starts a new row 16 px down, back at the left.
    parts = svg.legend([Key("ab", "#111"), Key("cd", "#222", "2 3")], 0, 10, 100)
    assert parts == [
        '<line x1="0" y1="10" x2="22" y2="10" stroke="#111" stroke-width="2" />',
        '<text x="27" y="14" font-size="10">ab</text>',
        '<line x1="0" y1="26" x2="22" y2="26" stroke="#222" stroke-dasharray="2 3"'
        ' stroke-width="2" />',
        '<text x="27" y="30" font-size="10">cd</text>',
    ]
