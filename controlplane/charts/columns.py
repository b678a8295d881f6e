"""Layout of the column charts with axes: a series over time (calls per minute)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from controlplane.charts.bars import (
    DEFAULT_COLOUR,
    TEXT_PAD,
    VERTICAL_BAR_SHARE,
    _round,
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
class AxisTick:
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
    y_ticks: list[AxisTick]
    x_ticks: list[AxisTick]
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
                AxisTick(
                    label, _round(centre), _round(plot_bottom + COLUMN_FONT_SIZE + 4)
                )
            )
    y_ticks = [
        AxisTick(
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
