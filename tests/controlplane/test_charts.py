"""controlplane.charts: bar layout in both orientations, and the shared template."""

import re

import pytest
from django.template.loader import render_to_string
from django.utils import translation

from controlplane import charts
from controlplane.charts import DEFAULT_COLOUR, bar_chart

ITEMS = [("high", 4), ("medium", 2), ("low", 0)]
LONGEST_BAR = charts.HORIZONTAL_BAR_LENGTH


def test_bar_chart__horizontal_largest_bar_is_full_length() -> None:
    chart = bar_chart("By severity", ITEMS)
    high, medium, low = chart.bars
    assert high.width == LONGEST_BAR
    assert medium.width == LONGEST_BAR / 2
    assert low.width == 0
    assert {bar.x for bar in chart.bars} == {chart.baseline}
    assert all(bar.x + bar.width < chart.width for bar in chart.bars)


def test_bar_chart__horizontal_rows_stack_without_overlap() -> None:
    chart = bar_chart("By severity", ITEMS)
    tops = [bar.y for bar in chart.bars]
    assert tops == sorted(tops)
    for upper, lower in zip(chart.bars, chart.bars[1:], strict=False):
        assert upper.y + upper.height < lower.y
    last = chart.bars[-1]
    assert last.y + last.height <= chart.height


def test_bar_chart__all_zero_values_draw_empty_bars() -> None:
    """No division by zero: every bar is drawn with no length."""
    for orientation in charts.ORIENTATIONS:
        chart = bar_chart("Quiet", [("a", 0), ("b", 0)], orientation=orientation)
        assert [bar.value for bar in chart.bars] == [0, 0]
        assert all(bar.width == 0 or bar.height == 0 for bar in chart.bars)


def test_bar_chart__empty_list_has_no_bars_but_a_size() -> None:
    for orientation in charts.ORIENTATIONS:
        chart = bar_chart("Nothing", [], orientation=orientation)
        assert chart.bars == []
        assert chart.width > 0 and chart.height > 0


def test_bar_chart__vertical_columns_stay_within_the_chart() -> None:
    days = [(f"{day:02d}", stored) for day, stored in enumerate([3, 0, 7, 1], 1)]
    chart = bar_chart("Per day", days, orientation="vertical")
    assert (chart.width, chart.height) == (
        charts.VERTICAL_WIDTH,
        charts.VERTICAL_VALUE_HEIGHT
        + charts.VERTICAL_PLOT_HEIGHT
        + charts.VERTICAL_LABEL_HEIGHT,
    )
    tallest = chart.bars[2]
    assert tallest.height == charts.VERTICAL_PLOT_HEIGHT
    assert chart.bars[1].height == 0
    for bar in chart.bars:
        assert bar.y + bar.height == chart.baseline
        assert 0 < bar.text_y < bar.y
        assert chart.baseline < bar.label_y <= chart.height
        assert 0 <= bar.x and bar.x + bar.width <= chart.width
    lefts = [bar.x for bar in chart.bars]
    assert lefts == sorted(lefts)
    for left, right in zip(chart.bars, chart.bars[1:], strict=False):
        assert left.x + left.width < right.x


def test_bar_chart__size_overrides_scale_the_layout() -> None:
    chart = bar_chart(
        "Per day", [("a", 2), ("b", 1)], orientation="vertical", width=200, height=100
    )
    plot = 100 - charts.VERTICAL_VALUE_HEIGHT - charts.VERTICAL_LABEL_HEIGHT
    assert (chart.width, chart.height) == (200, 100)
    assert chart.bars[0].height == plot
    assert chart.bars[1].x + chart.bars[1].width <= 200
    rows = bar_chart("Rows", ITEMS, width=500, height=90)
    assert rows.bars[0].width == 500 - charts.HORIZONTAL_LABEL_WIDTH - (
        charts.HORIZONTAL_VALUE_WIDTH
    )
    assert rows.height == 90


def test_bar_chart__links_colours_and_captions_by_label() -> None:
    chart = bar_chart(
        "By severity",
        ITEMS,
        colours={"high": "#d0542c"},
        links={"medium": "/audit/?severity=medium"},
        captions={"low": "low: none at all"},
    )
    high, medium, low = chart.bars
    assert (high.colour, medium.colour) == ("#d0542c", DEFAULT_COLOUR)
    assert (high.href, medium.href) == ("", "/audit/?severity=medium")
    assert (high.caption, low.caption) == ("high: 4", "low: none at all")


def test_bar_chart__default_colour_can_change() -> None:
    chart = bar_chart("Per day", ITEMS, orientation="vertical", colour="#417690")
    assert {bar.colour for bar in chart.bars} == {"#417690"}


@pytest.mark.parametrize(
    ("items", "options"),
    [
        (ITEMS, {"orientation": "diagonal"}),
        ([("a", -1)], {}),
        (ITEMS, {"width": charts.HORIZONTAL_LABEL_WIDTH}),
        (ITEMS, {"orientation": "vertical", "height": charts.VERTICAL_LABEL_HEIGHT}),
    ],
    ids=["orientation", "negative", "too-narrow", "too-low"],
)
def test_bar_chart__rejects_what_it_cannot_draw(items, options) -> None:
    with pytest.raises(ValueError):
        bar_chart("Bad", items, **options)


@pytest.mark.parametrize("orientation", charts.ORIENTATIONS)
def test_bar_chart_template__draws_values_titles_and_links(orientation) -> None:
    chart = bar_chart(
        "Mixed <b>",
        [("a&b", 3), ("c", 1)],
        orientation=orientation,
        links={"c": "/c/?x=1&y=2"},
        captions={"c": "c: one, 2.0 MB"},
    )
    html = render_to_string("charts/bar_chart.html", {"chart": chart})
    assert html.count("<rect") == 2
    assert 'aria-label="Mixed &lt;b&gt;: a&amp;b: 3; c: one, 2.0 MB"' in html
    assert "<title>Mixed &lt;b&gt;</title>" in html
    assert "<title>a&amp;b: 3</title>" in html
    assert '<a href="/c/?x=1&amp;y=2">' in html
    assert '<text class="value"' in html and ">3</text>" in html
    assert ("<line" in html) == (orientation == "vertical")
    assert "<script" not in html and "http" not in html.replace(
        "http://www.w3.org/2000/svg", ""
    )


def test_bar_chart_template__empty_chart_says_so() -> None:
    html = render_to_string(
        "charts/bar_chart.html",
        {"chart": bar_chart("By rule", []), "empty": "No findings."},
    )
    assert "<svg" not in html
    assert '<p class="empty">No findings.</p>' in html


@pytest.mark.parametrize("orientation", charts.ORIENTATIONS)
def test_bar_chart_template__coordinates_ignore_the_locale(orientation) -> None:
    """Fractional coordinates keep their decimal point under a comma locale."""
    chart = bar_chart("Sevenths", [("a", 7), ("b", 1)], orientation=orientation)
    with translation.override("de"):
        html = render_to_string("charts/bar_chart.html", {"chart": chart})
    numbers = re.findall(r' (?:x|y|width|height)="([^"]*)"', html)
    assert any("." in number for number in numbers)
    assert all(float(number) >= 0 for number in numbers)


def test_column_chart__y_axis_has_round_ticks_from_zero_to_above_the_largest():
    chart = charts.column_chart(
        "calls", [("10:00", 7, 2), ("10:01", 0, 0), ("10:02", 13, 13)],
        y_title="calls", x_title="time",
    )  # fmt: skip
    assert [tick.label for tick in chart.y_ticks] == ["0", "5", "10", "15"]
    assert chart.y_ticks[0].y == chart.plot_bottom
    assert chart.y_ticks[-1].y == chart.plot_top
    tallest = chart.columns[2]
    assert tallest.part_height == tallest.height > 0
    assert chart.columns[1].height == 0


def test_column_chart__labels_every_nth_column_and_keeps_captions():
    items = [(f"{minute:02d}", minute, 0) for minute in range(60)]
    captions = [f"minute {minute}" for minute in range(60)]
    chart = charts.column_chart(
        "hour", items, y_title="calls", x_title="time", captions=captions,
        label_every=10,
    )  # fmt: skip
    assert [tick.label for tick in chart.x_ticks] == [
        "00",
        "10",
        "20",
        "30",
        "40",
        "50",
    ]
    assert chart.columns[59].caption == "minute 59"
    right = max(column.x + column.width for column in chart.columns)
    assert right <= chart.plot_right


def test_column_chart__refuses_a_part_larger_than_its_column():
    with pytest.raises(ValueError, match="part"):
        charts.column_chart("bad", [("a", 1, 2)], y_title="y", x_title="x")


def test_column_chart__empty_series_has_an_axis():
    chart = charts.column_chart("none", [], y_title="y", x_title="x")
    assert chart.columns == [] and [t.label for t in chart.y_ticks] == ["0", "1"]


def test_bar_chart__vertical_axes_have_a_scale_and_titles() -> None:
    """Ticks at 0, the middle and the top, left of every column, titles drawn."""
    chart = bar_chart(
        "Per day",
        [("Nov 30", 8), ("Dec 01", 3)],
        orientation="vertical",
        value_axis="results",
        label_axis="day",
    )
    assert [tick.value for tick in chart.ticks] == [0, 4, 8]
    assert chart.ticks[0].y == chart.baseline
    assert chart.ticks[-1].y == chart.bars[0].y
    assert all(bar.x > chart.plot_left for bar in chart.bars)
    assert chart.bars[-1].x + chart.bars[-1].width <= chart.width
    assert chart.baseline < chart.bars[0].label_y < chart.label_axis_y <= chart.height
    html = render_to_string("charts/bar_chart.html", {"chart": chart})
    assert html.count('class="tick"') == 3
    assert ">results</text>" in html and ">day</text>" in html
    assert ">Dec 01</text>" in html


def test_bar_chart__axes_only_on_vertical_charts() -> None:
    with pytest.raises(ValueError, match="vertical"):
        bar_chart("Rows", ITEMS, value_axis="count")
    plain = bar_chart("Per day", ITEMS, orientation="vertical")
    assert plain.ticks == () and not plain.has_axes
