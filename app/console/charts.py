"""Horizontal bar charts drawn by the server as SVG: the geometry is worked out here, templates/charts.html draws it.

A chart is a list of rows (a step, a requirement code), each with one bar per series (entered and moved on, the
median and the 90th percentile); every bar carries its figure as text, so the chart reads without its colours,
and the page shows the same figures in a table under it. No script and nothing fetched: the SVG is in the page.
"""

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 640  # the drawing's width in SVG units; it is scaled to the width of its box
LABEL = 20  # the height of a row's label, above its bars
BAR = 18  # the height of one bar
ROW_GAP = 12  # the space under a row's bars
VALUE_ROOM = 240  # the room kept right of the longest bar for its figure
LEGEND = 28  # the height of the legend, when there is more than one series


@dataclass(frozen=True)
class Bar:
    """One bar: which series it belongs to, where it stands, and its figure as text."""

    series: int
    y: int
    width: float
    text: str


@dataclass(frozen=True)
class Row:
    """One row of the chart: its label and its bars."""

    label: str
    y: int
    bars: tuple[Bar, ...]


@dataclass(frozen=True)
class Chart:
    """A horizontal bar chart, ready to draw: its title and description (what a screen reader says) and its rows."""

    id: str
    title: str
    description: str
    series: tuple[str, ...]
    rows: tuple[Row, ...]
    width: int
    height: int
    top: int  # where the first row starts (under the legend)

    @property
    def bar_height(self) -> int:
        """The height of each bar."""
        return BAR


@dataclass(frozen=True)
class Figure:
    """What a chart shows for one row: its label, a value per series (None: nothing to draw) and its text."""

    label: str
    values: Sequence[float | None]
    texts: Sequence[str]


@dataclass(frozen=True)
class Column:
    """A column of a table of figures; numbers are aligned right."""

    title: str
    number: bool = False


@dataclass(frozen=True)
class Table:
    """The figures of a chart (and more) as a table, cells as text: the first cell of a row heads it."""

    caption: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[str, ...], ...]


def bar_chart(chart_id: str, title: str, description: str, series: Sequence[str],
              figures: Sequence[Figure]) -> Chart:
    """A chart of the figures, every bar scaled against the largest value of any series; its description (what
    a screen reader says of it) ends with every figure."""
    largest = max((value for figure in figures for value in figure.values if value), default=0) or 1
    room = WIDTH - VALUE_ROOM
    top = LEGEND if len(series) > 1 else 0
    rows, y = [], top
    for figure in figures:
        bars = []
        for index, (value, text) in enumerate(zip(figure.values, figure.texts, strict=True)):
            bar_y = y + LABEL + index * BAR
            bars.append(Bar(index, bar_y, round(max(value or 0, 0) / largest * room, 1), text))
        rows.append(Row(figure.label, y, tuple(bars)))
        y += LABEL + len(series) * BAR + ROW_GAP
    said = "; ".join(f"{figure.label}: {', '.join(figure.texts)}" for figure in figures)
    return Chart(chart_id, title, f"{description} {said}." if said else description, tuple(series), tuple(rows),
                 WIDTH, max(y, top + LABEL), top)
