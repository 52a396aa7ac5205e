"""/api/v1/metrics: the figures of the metrics page, for managers. The same PeriodForm and
period() choose the days (by default the last 90), the same compute() counts."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Annotated

from django.http import HttpRequest
from ninja import Query, Router, Schema

from console.api_kit import READ, validated
from incidents.api.schemas import iso_time
from incidents.permissions import require_perm
from incidents.reviews.metrics import compute
from incidents.reviews.views_metrics import PeriodForm, period

router = Router(tags=["metrics"])


class DurationRowOut(Schema):
    group: str
    incidents: int
    acknowledged: int
    tta_p50: float | None
    tta_p90: float | None
    resolved: int
    ttr_p50: float | None
    ttr_p90: float | None
    ack_breaches: int


class WeekOut(Schema):
    week: date
    incidents: int


class MetricsOut(Schema):
    start: datetime
    end: datetime
    last_day: date
    incidents_declared: int
    by_severity: list[DurationRowOut]
    by_service: list[DurationRowOut]
    weeks: list[WeekOut]
    reviews_required: int
    reviews_published: int
    reviews_on_time: int
    review_completion_rate: float | None
    action_items_open: int
    action_items_overdue: int


@router.get("", response={200: MetricsOut, **READ}, summary="Incident metrics")
def get_metrics(
    request: HttpRequest,
    date_from: Annotated[date | None, Query(description="First day, inclusive")] = None,
    date_to: Annotated[date | None, Query(description="Last day, inclusive; default today")] = None,
):
    """Times in seconds (time to acknowledge, time to resolve: medians and 90th
    percentiles), by severity and by service, incidents declared per week, post-incident
    review completion and action items: the metrics page's figures."""
    require_perm(request, "incidents.view_metrics")
    form = PeriodForm(
        data={
            "date_from": date_from.isoformat() if date_from else "",
            "date_to": date_to.isoformat() if date_to else "",
        }
    )
    validated(form)
    start, end = period(form)
    result = compute(start, end)
    return {
        "start": iso_time(start),
        "end": iso_time(end),
        "last_day": (end - timedelta(days=1)).date(),
        "incidents_declared": sum(n for _, n in result.weeks),
        "by_severity": [asdict(row) for row in result.by_severity],
        "by_service": [asdict(row) for row in result.by_service],
        "weeks": [{"week": week, "incidents": n} for week, n in result.weeks],
        "reviews_required": result.reviews_required,
        "reviews_published": result.reviews_published,
        "reviews_on_time": result.reviews_on_time,
        "review_completion_rate": result.completion_rate,
        "action_items_open": result.action_items_open,
        "action_items_overdue": result.action_items_overdue,
    }
