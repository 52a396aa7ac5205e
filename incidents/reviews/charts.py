"""Bar charts drawn on the server as inline SVG (the sparklines' approach: no script, nothing
for the CSP to allow, a <title> that says what the chart shows)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value_label: str
    css: str = ""


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    bars: list[Bar]
    title: str
    baseline: float
    max_label: str


def bar_chart(
    values: list[tuple[str, float | None, str]],
    title: str,
    value_format=lambda v: f"{v:g}",
    width: int = 560,
    height: int = 140,
) -> BarChart:
    """values: (label, value, css class) in order; a None value draws no bar."""
    top = max((v for _, v, _ in values if v), default=0) or 1
    pad_top, pad_bottom = 14.0, 18.0
    usable = height - pad_top - pad_bottom
    slot = width / max(len(values), 1)
    bar_width = max(min(slot * 0.7, 48), 2)
    bars = []
    for index, (label, value, css) in enumerate(values):
        h = round(usable * (value or 0) / top, 1)
        bars.append(
            Bar(
                x=round(index * slot + (slot - bar_width) / 2, 1),
                y=round(pad_top + usable - h, 1),
                width=round(bar_width, 1),
                height=h,
                label=label,
                value_label=value_format(value) if value is not None else "—",
                css=css,
            )
        )
    return BarChart(width, height, bars, title, height - pad_bottom, value_format(top))
