"""Geometry of the small inline SVG charts the pages draw (no JavaScript, no library).

Templates turn these values into ``<svg>`` elements; every label goes through
Jinja's autoescaping like any other text.

>>> import datetime as dt
>>> c = line_chart([(dt.date(2026, 1, 1), 4, "4"), (dt.date(2026, 3, 1), 6, "6")])
>>> [(p.x, p.y) for p in c.points]
[(48.0, 45.3), (308.0, 12.0)]
>>> [t.label for t in c.y_ticks]
['0', '2', '4', '6']
>>> [t.label for t in line_chart([(dt.date(2026, 1, 1), 0.5, "0.5")]).y_ticks]
['0', '0.125', '0.25', '0.375', '0.5']
>>> one = line_chart([(dt.date(2026, 1, 1), 3, "3")])
>>> len(one.points), one.points[0].x
(1, 178.0)
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH, HEIGHT = 320, 140
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 28


@dataclass(frozen=True)
class Tick:
    pos: float
    label: str
    #: SVG text-anchor, so the first and last date labels stay inside the chart
    anchor: str = "middle"


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    date: str
    value: str
    #: SVG text-anchor of the value label, keeping it inside the plot
    anchor: str = "middle"


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    points: tuple[Point, ...]
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM

    @property
    def polyline(self) -> str:
        """The ``points`` attribute of the line through every point."""
        return " ".join(f"{p.x:g},{p.y:g}" for p in self.points)


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten that is >= value (1 for 0).

    >>> [nice_ceiling(v) for v in (0, 7, 12, 260, 1679)]
    [1, 10, 20, 500, 2000]
    """
    if value <= 0:
        return 1
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        candidate = step * 10**exponent
        if candidate >= value:
            return int(candidate) if candidate == int(candidate) else candidate
    return 10 ** (exponent + 1)  # pragma: no cover


def integer_axis(top: float) -> tuple[int, int]:
    """(axis top, tick step) for integer values up to ``top``: whole-number ticks only,
    at most five intervals, the step 1, 2 or 5 times a power of ten.

    >>> [integer_axis(t) for t in (1, 2, 3, 6, 9, 1679)]
    [(1, 1), (2, 1), (3, 1), (6, 2), (10, 2), (2000, 500)]
    """
    top = max(1, math.ceil(top))
    step = 1
    while math.ceil(top / step) > 5:
        exponent = 10 ** math.floor(math.log10(step))
        step = next(c * exponent for c in (1, 2, 5, 10) if c * exponent > step)
    return step * math.ceil(top / step), step


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,g}"


def line_chart(series: Sequence[tuple[dt.date, float, str]], *,
               width: int = WIDTH, height: int = HEIGHT) -> LineChart:
    """One metric over time: (date, numeric value, value as printed), dates ascending.

    The y axis starts at 0 (or the smallest negative value) and ends at a round number;
    when every value is a whole number (an h-index, a count) so is every tick.
    """
    left, right, top, bottom = LEFT, width - RIGHT, TOP, height - BOTTOM
    values = [v for _, v, _ in series]
    low = min(0.0, *values) if values else 0.0
    integers = bool(values) and all(float(v).is_integer() for v in values)
    if integers:
        low = float(math.floor(low))
        span_top, step = integer_axis(max(values) - low)
        high = low + span_top
        tick_values = [low + step * i for i in range(int(span_top // step) + 1)]
    else:
        high = nice_ceiling(max(values) - low) + low if values else 1.0
        if high == low:
            high = low + 1
        tick_values = [low + (high - low) * i / 4 for i in range(5)]
    first = series[0][0] if series else dt.date.today()
    span = (series[-1][0] - first).days if series else 0

    def x_of(day: dt.date) -> float:
        if span == 0:
            return round((left + right) / 2, 1)
        return round(left + (day - first).days / span * (right - left), 1)

    def y_of(value: float) -> float:
        return round(bottom - (value - low) / (high - low) * (bottom - top), 1)

    def anchor(x: float) -> str:
        return "start" if x - left < 16 else "end" if right - x < 16 else "middle"

    points = tuple(Point(x_of(d), y_of(v), d.isoformat(), label, anchor(x_of(d)))
                   for d, v, label in series)
    y_ticks = tuple(Tick(y_of(v), _fmt(v)) for v in tick_values)
    x_ticks: tuple[Tick, ...] = ()
    if series:
        x_ticks = (Tick(x_of(first), first.isoformat(), "start" if span else "middle"),)
        if span:
            x_ticks += (Tick(x_of(series[-1][0]), series[-1][0].isoformat(), "end"),)
    return LineChart(width, height, points, y_ticks, x_ticks, left, right, top, bottom)


@dataclass(frozen=True)
class Bar:
    label: str
    count: int
    x: float
    y: float
    width: float
    height: float
    href: str | None = None


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    bars: tuple[Bar, ...]
    horizontal: bool
    label_width: int = 0


def column_chart(items: Sequence[tuple[str, int]], *, width: int = 480,
                 height: int = 200) -> BarChart:
    """Vertical bars, one per (label, count), left to right (e.g. papers by year).

    >>> c = column_chart([("2024", 1), ("2025", 4)])
    >>> [(b.label, b.height) for b in c.bars]
    [('2024', 38.0), ('2025', 152.0)]
    """
    top, bottom = 16, height - 32
    peak = max((n for _, n in items), default=0) or 1
    slot = width / max(len(items), 1)
    bar_w = min(slot * 0.7, 64)
    bars = []
    for i, (label, count) in enumerate(items):
        h = round(count / peak * (bottom - top), 1)
        bars.append(Bar(label, count, round(i * slot + (slot - bar_w) / 2, 1), round(bottom - h, 1),
                        round(bar_w, 1), h))
    return BarChart(width, height, tuple(bars), horizontal=False)


def row_chart(items: Sequence[tuple[str, int, str | None]], *, width: int = 480,
              row_height: int = 26, label_width: int = 72) -> BarChart:
    """Horizontal bars, one per (label, count, link), top to bottom (e.g. by category).

    >>> c = row_chart([("LG", 3, None), ("AI", 1, "/id/category/AI")])
    >>> [(b.label, b.y, b.width) for b in c.bars]
    [('LG', 4, 360.0), ('AI', 30, 120.0)]
    """
    room = width - label_width - 48
    peak = max((n for _, n, _ in items), default=0) or 1
    bars = tuple(
        Bar(label, count, label_width, i * row_height + 4, round(count / peak * room, 1),
            row_height - 8, href)
        for i, (label, count, href) in enumerate(items))
    return BarChart(width, max(len(items), 1) * row_height, bars, horizontal=True,
                    label_width=label_width)
