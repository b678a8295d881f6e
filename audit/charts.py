"""Geometry of the inline SVG bar charts on report pages (no JavaScript, no CDN)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from audit.constants import (
    CHART_BAR_GAP,
    CHART_BAR_HEIGHT,
    CHART_BAR_WIDTH,
    CHART_LABEL_WIDTH,
)

SEVERITY_COLOURS = {
    "critical": "#8b1a1a",
    "high": "#d0542c",
    "medium": "#e0a526",
    "low": "#5a8fbb",
}
DEFAULT_COLOUR = "#4c6f85"


@dataclass(frozen=True)
class Bar:
    """One bar: its label, value, position and width in pixels, colour, link."""

    label: str
    value: int
    y: int
    text_y: int
    width: int
    colour: str
    href: str


@dataclass(frozen=True)
class BarChart:
    """A horizontal bar chart ready to draw as SVG."""

    title: str
    bars: list[Bar]
    width: int
    height: int
    label_width: int
    bar_height: int


def bar_chart(
    title: str,
    items: Sequence[tuple[str, int]],
    *,
    colours: dict[str, str] | None = None,
    links: dict[str, str] | None = None,
) -> BarChart:
    """Lay out (label, value) pairs as horizontal bars scaled to the largest."""
    colours = colours or {}
    links = links or {}
    largest = max((value for _, value in items), default=0)
    step = CHART_BAR_HEIGHT + CHART_BAR_GAP
    bars = [
        Bar(
            label=label,
            value=value,
            y=index * step,
            text_y=index * step + CHART_BAR_HEIGHT - CHART_BAR_GAP,
            width=round(CHART_BAR_WIDTH * value / largest) if largest else 0,
            colour=colours.get(label, DEFAULT_COLOUR),
            href=links.get(label, ""),
        )
        for index, (label, value) in enumerate(items)
    ]
    return BarChart(
        title=title,
        bars=bars,
        width=CHART_LABEL_WIDTH + CHART_BAR_WIDTH + CHART_LABEL_WIDTH // 4,
        height=max(len(bars), 1) * step,
        label_width=CHART_LABEL_WIDTH,
        bar_height=CHART_BAR_HEIGHT,
    )
