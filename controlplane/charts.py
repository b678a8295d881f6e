"""Layout of the inline SVG bar charts that every app's pages draw.

`bar_chart` turns (label, value) pairs into pixel geometry; the template
`charts/bar_chart.html` draws it without JavaScript or any external asset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

HORIZONTAL = "horizontal"
VERTICAL = "vertical"
ORIENTATIONS = (HORIZONTAL, VERTICAL)

# Bars with no colour of their own.
DEFAULT_COLOUR = "#4c6f85"
# Space between a bar and its value text, and between a label and its bar.
TEXT_PAD = 6
# Coordinates are rounded to this many decimals: finer is invisible on screen.
COORDINATE_DECIMALS = 1

# Horizontal charts: one row per item, the label left of its bar, the value after it.
HORIZONTAL_LABEL_WIDTH = 320
HORIZONTAL_BAR_LENGTH = 360
HORIZONTAL_VALUE_WIDTH = 80
HORIZONTAL_ROW_PITCH = 22
HORIZONTAL_BAR_GAP = 4
# A row's text sits on this baseline, measured from the bottom of its bar.
HORIZONTAL_TEXT_RISE = 4
HORIZONTAL_FONT_SIZE = 12
HORIZONTAL_LABEL_CHARS = 48

# Vertical charts: one column per item, the value above its bar, the label below.
VERTICAL_WIDTH = 560
VERTICAL_PLOT_HEIGHT = 160
VERTICAL_VALUE_HEIGHT = 14
VERTICAL_LABEL_HEIGHT = 18
# Share of a column's slot its bar fills; the rest is split into the gaps beside it.
VERTICAL_BAR_SHARE = 0.7
# Labels sit this far above the bottom edge so descenders stay inside the chart.
VERTICAL_LABEL_DESCENT = 4
# Value text sits this far above the top of its bar.
VERTICAL_VALUE_RISE = 3
VERTICAL_FONT_SIZE = 10
VERTICAL_LABEL_CHARS = 8


@dataclass(frozen=True)
class Bar:
    """One bar: its data, its rectangle, where its texts go, colour, link, caption."""

    label: str
    value: int
    x: float
    y: float
    width: float
    height: float
    text_x: float
    text_y: float
    label_x: float
    label_y: float
    colour: str
    href: str
    caption: str


@dataclass(frozen=True)
class BarChart:
    """A bar chart ready to draw as SVG.

    baseline is where every bar starts (an x for rows, a y for columns),
    label_width the room each label has and bar_thickness each bar's size across
    its length.
    """

    title: str
    orientation: str
    bars: list[Bar]
    width: float
    height: float
    label_width: float
    bar_thickness: float
    baseline: float
    font_size: int
    label_chars: int

    @property
    def is_vertical(self) -> bool:
        """Return True for a chart of columns, False for one of rows."""
        return self.orientation == VERTICAL

    @property
    def label_anchor(self) -> str:
        """Return the SVG text-anchor of the labels."""
        return "middle" if self.is_vertical else "end"

    @property
    def value_anchor(self) -> str:
        """Return the SVG text-anchor of the value texts."""
        return "middle" if self.is_vertical else "start"


def bar_chart(
    title: str,
    items: Sequence[tuple[str, int]],
    *,
    orientation: str = HORIZONTAL,
    colours: dict[str, str] | None = None,
    links: dict[str, str] | None = None,
    captions: dict[str, str] | None = None,
    colour: str = DEFAULT_COLOUR,
    width: float | None = None,
    height: float | None = None,
) -> BarChart:
    """Lay out (label, value) pairs as bars scaled to the largest value.

    colours, links and captions are looked up by label; a caption is the bar's
    tooltip and defaults to "label: value". width and height override the size of
    the whole chart (the rows of a horizontal chart then share its height).
    Raise ValueError for an unknown orientation, a negative value or a size too
    small to hold the bars.
    """
    if orientation not in ORIENTATIONS:
        raise ValueError(f"orientation must be one of {ORIENTATIONS}: {orientation!r}")
    if any(value < 0 for _, value in items):
        raise ValueError(f"chart {title!r} has a negative value")
    style = _Style(colours or {}, links or {}, captions or {}, colour)
    if orientation == VERTICAL:
        return _vertical(title, items, style, width, height)
    return _horizontal(title, items, style, width, height)


@dataclass(frozen=True)
class _Style:
    """What a bar looks like beyond its geometry, looked up by its label."""

    colours: dict[str, str]
    links: dict[str, str]
    captions: dict[str, str]
    colour: str

    def bar(
        self,
        label: str,
        value: int,
        *,
        x: float,
        y: float,
        width: float,
        height: float,
        text_x: float,
        text_y: float,
        label_x: float,
        label_y: float,
    ) -> Bar:
        """Return the bar for label at the given (unrounded) geometry."""
        return Bar(
            label=label,
            value=value,
            x=_round(x),
            y=_round(y),
            width=_round(width),
            height=_round(height),
            text_x=_round(text_x),
            text_y=_round(text_y),
            label_x=_round(label_x),
            label_y=_round(label_y),
            colour=self.colours.get(label, self.colour),
            href=self.links.get(label, ""),
            caption=self.captions.get(label, f"{label}: {value}"),
        )


def _round(number: float) -> float:
    """Round a coordinate, whole numbers to int so they print without ".0"."""
    rounded = round(number, COORDINATE_DECIMALS)
    return int(rounded) if rounded == int(rounded) else rounded


def _share(value: int, largest: int) -> float:
    """Return value as a fraction of the largest (0 when every value is 0)."""
    return value / largest if largest else 0.0


def _horizontal(
    title: str,
    items: Sequence[tuple[str, int]],
    style: _Style,
    width: float | None,
    height: float | None,
) -> BarChart:
    """Lay out one row per item, bars growing right from the label column."""
    rows = max(len(items), 1)
    if width is None:
        width = HORIZONTAL_LABEL_WIDTH + HORIZONTAL_BAR_LENGTH + HORIZONTAL_VALUE_WIDTH
    pitch = HORIZONTAL_ROW_PITCH if height is None else height / rows
    bar_length = width - HORIZONTAL_LABEL_WIDTH - HORIZONTAL_VALUE_WIDTH
    bar_thickness = pitch - HORIZONTAL_BAR_GAP
    if bar_length <= 0 or bar_thickness <= 0:
        raise ValueError(f"chart {title!r} is too small: {width}x{height}")
    largest = max((value for _, value in items), default=0)
    bars = []
    for index, (label, value) in enumerate(items):
        top = index * pitch
        length = bar_length * _share(value, largest)
        text_y = top + bar_thickness - HORIZONTAL_TEXT_RISE
        bars.append(
            style.bar(
                label,
                value,
                x=HORIZONTAL_LABEL_WIDTH,
                y=top,
                width=length,
                height=bar_thickness,
                text_x=HORIZONTAL_LABEL_WIDTH + length + TEXT_PAD,
                text_y=text_y,
                label_x=HORIZONTAL_LABEL_WIDTH - TEXT_PAD,
                label_y=text_y,
            )
        )
    return BarChart(
        title=title,
        orientation=HORIZONTAL,
        bars=bars,
        width=_round(width),
        height=_round(rows * pitch),
        label_width=HORIZONTAL_LABEL_WIDTH,
        bar_thickness=_round(bar_thickness),
        baseline=HORIZONTAL_LABEL_WIDTH,
        font_size=HORIZONTAL_FONT_SIZE,
        label_chars=HORIZONTAL_LABEL_CHARS,
    )


def _vertical(
    title: str,
    items: Sequence[tuple[str, int]],
    style: _Style,
    width: float | None,
    height: float | None,
) -> BarChart:
    """Lay out one column per item across the width, bars growing up."""
    if width is None:
        width = VERTICAL_WIDTH
    if height is None:
        height = VERTICAL_VALUE_HEIGHT + VERTICAL_PLOT_HEIGHT + VERTICAL_LABEL_HEIGHT
    plot_height = height - VERTICAL_VALUE_HEIGHT - VERTICAL_LABEL_HEIGHT
    if width <= 0 or plot_height <= 0:
        raise ValueError(f"chart {title!r} is too small: {width}x{height}")
    baseline = VERTICAL_VALUE_HEIGHT + plot_height
    slot = width / max(len(items), 1)
    bar_thickness = slot * VERTICAL_BAR_SHARE
    largest = max((value for _, value in items), default=0)
    bars = []
    for index, (label, value) in enumerate(items):
        length = plot_height * _share(value, largest)
        top = baseline - length
        centre = index * slot + slot / 2
        bars.append(
            style.bar(
                label,
                value,
                x=centre - bar_thickness / 2,
                y=top,
                width=bar_thickness,
                height=length,
                text_x=centre,
                text_y=top - VERTICAL_VALUE_RISE,
                label_x=centre,
                label_y=height - VERTICAL_LABEL_DESCENT,
            )
        )
    return BarChart(
        title=title,
        orientation=VERTICAL,
        bars=bars,
        width=_round(width),
        height=_round(height),
        label_width=_round(slot),
        bar_thickness=_round(bar_thickness),
        baseline=_round(baseline),
        font_size=VERTICAL_FONT_SIZE,
        label_chars=VERTICAL_LABEL_CHARS,
    )


# Column charts with axes: a series over time (calls per minute), each column
# with an optional highlighted part drawn at its foot (the errors among them).
COLUMN_CHART_WIDTH = 720
COLUMN_CHART_HEIGHT = 200
# Room for the y axis's tick labels and title, and for the x labels below.
COLUMN_AXIS_LEFT = 48
COLUMN_AXIS_BOTTOM = 34
COLUMN_TOP_PAD = 10
COLUMN_RIGHT_PAD = 8
COLUMN_FONT_SIZE = 10
# The y axis gets about this many steps, each 1, 2 or 5 times a power of ten.
COLUMN_Y_STEPS = 4
NICE_STEPS = (1, 2, 5)


@dataclass(frozen=True)
class Tick:
    """One axis tick: its text and where it is drawn."""

    label: str
    x: float
    y: float


@dataclass(frozen=True)
class Column:
    """One column: its value, the highlighted part of it, and their rectangles."""

    label: str
    value: int
    part: int
    x: float
    y: float
    width: float
    height: float
    part_y: float
    part_height: float
    caption: str


@dataclass(frozen=True)
class ColumnChart:
    """A column chart with a y axis of round steps and labels under the x axis."""

    title: str
    columns: list[Column]
    width: float
    height: float
    plot_left: float
    plot_right: float
    plot_top: float
    plot_bottom: float
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    y_title: str
    x_title: str
    colour: str
    part_colour: str
    font_size: int


def nice_step(largest: int, steps: int = COLUMN_Y_STEPS) -> int:
    """Return a round step (1, 2, 5, 10, 20, ...) that covers largest in ~steps."""
    target = max(largest, 1) / steps
    magnitude = 1
    while True:
        for factor in NICE_STEPS:
            if factor * magnitude >= target:
                return factor * magnitude
        magnitude *= 10


def column_chart(
    title: str,
    items: Sequence[tuple[str, int, int]],
    *,
    y_title: str,
    x_title: str,
    captions: Sequence[str] | None = None,
    label_every: int = 1,
    colour: str = DEFAULT_COLOUR,
    part_colour: str = "#ba2121",
    width: float = COLUMN_CHART_WIDTH,
    height: float = COLUMN_CHART_HEIGHT,
) -> ColumnChart:
    """Lay out (label, value, part) columns over a y axis from 0 to a round top.

    Every label_every-th label is written under the x axis; captions (one per
    item, default "label: value") are the columns' tooltips. Raise ValueError
    for a negative value, a part larger than its value, or a size too small.
    """
    if any(value < 0 or not 0 <= part <= value for _, value, part in items):
        raise ValueError(f"chart {title!r} has a negative value or part")
    plot_left, plot_top = COLUMN_AXIS_LEFT, COLUMN_TOP_PAD
    plot_right, plot_bottom = width - COLUMN_RIGHT_PAD, height - COLUMN_AXIS_BOTTOM
    if plot_right <= plot_left or plot_bottom <= plot_top:
        raise ValueError(f"chart {title!r} is too small: {width}x{height}")
    largest = max((value for _, value, _ in items), default=0)
    step = nice_step(largest)
    top = step * max(1, -(-largest // step))
    plot_height = plot_bottom - plot_top
    slot = (plot_right - plot_left) / max(len(items), 1)
    thickness = slot * VERTICAL_BAR_SHARE
    columns, x_ticks = [], []
    for index, (label, value, part) in enumerate(items):
        centre = plot_left + index * slot + slot / 2
        length = plot_height * value / top
        part_length = plot_height * part / top
        columns.append(
            Column(
                label=label,
                value=value,
                part=part,
                x=_round(centre - thickness / 2),
                y=_round(plot_bottom - length),
                width=_round(thickness),
                height=_round(length),
                part_y=_round(plot_bottom - part_length),
                part_height=_round(part_length),
                caption=captions[index] if captions else f"{label}: {value}",
            )
        )
        if index % label_every == 0:
            x_ticks.append(
                Tick(label, _round(centre), _round(plot_bottom + COLUMN_FONT_SIZE + 4))
            )
    y_ticks = [
        Tick(
            str(value),
            plot_left - TEXT_PAD,
            _round(plot_bottom - plot_height * value / top),
        )
        for value in range(0, top + 1, step)
    ]
    return ColumnChart(
        title=title,
        columns=columns,
        width=_round(width),
        height=_round(height),
        plot_left=plot_left,
        plot_right=_round(plot_right),
        plot_top=plot_top,
        plot_bottom=_round(plot_bottom),
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        y_title=y_title,
        x_title=x_title,
        colour=colour,
        part_colour=part_colour,
        font_size=COLUMN_FONT_SIZE,
    )
