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

# Vertical charts with axes (value_axis / label_axis given): a scale of ticks
# left of the columns, with the value axis's title turned beside it, and the
# label axis's title under the labels.
AXIS_SCALE_WIDTH = 48
AXIS_TITLE_HEIGHT = 16
AXIS_TICK_LENGTH = 4
# The title of the value axis sits this far from the left edge (turned 90°).
AXIS_TITLE_INSET = 10


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
class Tick:
    """One mark of a value scale: its value and the height it sits at."""

    value: int
    y: float


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
    # Axes, vertical charts only: empty titles and no ticks draw none.
    value_axis: str = ""
    label_axis: str = ""
    ticks: tuple[Tick, ...] = ()
    plot_left: float = 0
    plot_top: float = 0

    @property
    def has_axes(self) -> bool:
        """Return True when the chart draws a value scale and axis titles."""
        return bool(self.ticks)

    @property
    def tick_text_x(self) -> float:
        """Return where the tick values end, just left of the tick marks."""
        return _round(self.plot_left - AXIS_TICK_LENGTH - VERTICAL_VALUE_RISE)

    @property
    def tick_start_x(self) -> float:
        """Return where the tick marks start, left of the value axis."""
        return _round(self.plot_left - AXIS_TICK_LENGTH)

    @property
    def value_axis_x(self) -> float:
        """Return the x of the value axis title (turned 90°, beside the scale)."""
        return AXIS_TITLE_INSET

    @property
    def value_axis_y(self) -> float:
        """Return the y of the value axis title, centred beside the plot."""
        return _round((self.plot_top + self.baseline) / 2)

    @property
    def label_axis_x(self) -> float:
        """Return the x of the label axis title, centred under the columns."""
        return _round((self.plot_left + self.width) / 2)

    @property
    def label_axis_y(self) -> float:
        """Return the baseline of the label axis title, at the bottom edge."""
        return _round(self.height - VERTICAL_LABEL_DESCENT)

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
    value_axis: str = "",
    label_axis: str = "",
) -> BarChart:
    """Lay out (label, value) pairs as bars scaled to the largest value.

    colours, links and captions are looked up by label; a caption is the bar's
    tooltip and defaults to "label: value". width and height override the size of
    the whole chart (the rows of a horizontal chart then share its height).
    value_axis and label_axis title the axes of a vertical chart, which then
    gets a scale (0, the middle and the largest value) left of its columns.
    Raise ValueError for an unknown orientation, a negative value, axes on a
    horizontal chart or a size too small to hold the bars.
    """
    if orientation not in ORIENTATIONS:
        raise ValueError(f"orientation must be one of {ORIENTATIONS}: {orientation!r}")
    if any(value < 0 for _, value in items):
        raise ValueError(f"chart {title!r} has a negative value")
    style = _Style(colours or {}, links or {}, captions or {}, colour)
    if orientation == VERTICAL:
        return _vertical(title, items, style, width, height, value_axis, label_axis)
    if value_axis or label_axis:
        raise ValueError(f"chart {title!r}: axes are drawn on vertical charts only")
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
    value_axis: str = "",
    label_axis: str = "",
) -> BarChart:
    """Lay out one column per item across the width, bars growing up."""
    axes = bool(value_axis or label_axis)
    if width is None:
        width = VERTICAL_WIDTH + (AXIS_SCALE_WIDTH if axes else 0)
    if height is None:
        height = VERTICAL_VALUE_HEIGHT + VERTICAL_PLOT_HEIGHT + VERTICAL_LABEL_HEIGHT
        height += AXIS_TITLE_HEIGHT if axes else 0
    plot_left = AXIS_SCALE_WIDTH if axes else 0
    below = VERTICAL_LABEL_HEIGHT + (AXIS_TITLE_HEIGHT if axes else 0)
    plot_height = height - VERTICAL_VALUE_HEIGHT - below
    if width <= plot_left or plot_height <= 0:
        raise ValueError(f"chart {title!r} is too small: {width}x{height}")
    baseline = VERTICAL_VALUE_HEIGHT + plot_height
    slot = (width - plot_left) / max(len(items), 1)
    bar_thickness = slot * VERTICAL_BAR_SHARE
    largest = max((value for _, value in items), default=0)
    bars = []
    for index, (label, value) in enumerate(items):
        length = plot_height * _share(value, largest)
        top = baseline - length
        centre = plot_left + index * slot + slot / 2
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
                label_y=baseline + VERTICAL_LABEL_HEIGHT - VERTICAL_LABEL_DESCENT,
            )
        )
    ticks = (
        tuple(
            Tick(value=value, y=_round(baseline - plot_height * _share(value, largest)))
            for value in sorted({0, largest // 2, largest})
        )
        if axes
        else ()
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
        value_axis=value_axis,
        label_axis=label_axis,
        ticks=ticks,
        plot_left=plot_left,
        plot_top=VERTICAL_VALUE_HEIGHT,
    )
