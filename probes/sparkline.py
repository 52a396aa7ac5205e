"""Latency sparklines drawn on the server as inline SVG: no script, nothing for the CSP to allow.

A sparkline has one slot per result, oldest on the left, so a probe with few results draws at
the right-hand end and every row of the dashboard reads on the same scale of "results ago".
The vertical scale starts at zero: a wobble from 12 to 14 ms stays a wobble, a spike to 900 ms
stands out. Results without a latency (timeouts, refused connections) break the line and,
like every failing result, get a mark along the bottom edge.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import median
from typing import Protocol

SLOTS = 50


class Point(Protocol):
    latency_ms: float | None
    status: str


@dataclass(frozen=True)
class Mark:
    x: float
    status: str


@dataclass(frozen=True)
class Sparkline:
    width: int
    height: int
    lines: list[str]  # polyline `points`, one per unbroken run of latencies
    marks: list[Mark]  # results that were not ok, at the foot of the chart
    last: tuple[float, float, str] | None  # x, y and status of the newest result with a latency
    count: int
    min_ms: float | None
    max_ms: float | None
    median_ms: float | None

    @property
    def title(self) -> str:
        """What the chart shows, in words: the SVG's <title>, read by screen readers."""
        if not self.count:
            return "No results yet"
        results = "result" if self.count == 1 else f"{self.count} results"
        if self.min_ms is None:
            return f"Last {results}: no latency measured"
        return f"Latency of the last {results}: min {self.min_ms:.0f} ms, max {self.max_ms:.0f} ms"


def build(
    results: Iterable[Point], width: int = 150, height: int = 28, slots: int = SLOTS
) -> Sparkline:
    """`results` oldest first (at most `slots` of them are drawn: the newest)."""
    points: Sequence[Point] = list(results)[-slots:]
    latencies = [p.latency_ms for p in points if p.latency_ms is not None]
    top = max(latencies, default=0) or 1.0
    step = width / slots
    # Keep the line off the edges so its stroke and the newest-point dot are not clipped.
    pad, foot = 2.0, 4.0
    usable = height - pad - foot
    first_slot = slots - len(points)

    lines: list[str] = []
    run: list[str] = []
    marks: list[Mark] = []
    last = None
    for index, point in enumerate(points):
        x = round((first_slot + index + 0.5) * step, 1)
        if point.status != "ok":
            marks.append(Mark(x, point.status))
        if point.latency_ms is None:
            _close(run, lines)
            run = []
            continue
        y = round(pad + usable * (1 - point.latency_ms / top), 1)
        run.append(f"{x},{y}")
        last = (x, y, point.status)
    _close(run, lines)
    return Sparkline(
        width=width,
        height=height,
        lines=lines,
        marks=marks,
        last=last,
        count=len(points),
        min_ms=min(latencies, default=None),
        max_ms=max(latencies, default=None),
        median_ms=median(latencies) if latencies else None,
    )


def _close(run: list[str], lines: list[str]) -> None:
    if len(run) == 1:
        # A lone measurement between failures: a zero-length segment, drawn as a dot by the
        # round line caps (probes.css).
        x, y = run[0].split(",")
        run = [run[0], f"{float(x) + 0.01:.2f},{y}"]
    if run:
        lines.append(" ".join(run))
