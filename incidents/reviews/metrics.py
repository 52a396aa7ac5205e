"""Incident metrics over a period, computed in SQL from the timeline.

Per incident: declared = its `declared` event, acknowledged = its first `acknowledged` event,
resolved = its last `resolved` event (only for incidents resolved now). Time to acknowledge
(TTA) and to resolve (TTR) are measured from the declaration. Medians and p90s are
nearest-rank percentiles (the smallest value with at least p% of the values at or below it),
computed with ROW_NUMBER/COUNT window functions, which SQLite and PostgreSQL both run.

A fixed number of queries whatever the number of incidents: two for the duration tables (by
severity, by service), one for incidents per week, one for reviews, one for action items.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db import connection
from django.db.models import Count, F, Q
from django.db.models.functions import TruncWeek
from django.utils import timezone

from incidents.models import Severity, TimelineEvent
from incidents.reviews.models import ActionItem, PostIncidentReview

Kind = TimelineEvent.Kind


def _seconds(later: str, earlier: str) -> str:
    if connection.vendor == "postgresql":
        return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


def _percentile(column: str, p: int) -> str:
    return (
        f"MIN(CASE WHEN {column} IS NOT NULL AND rn_{column} * 100 >= {p} * n_{column} "
        f"THEN {column} END)"
    )


DURATIONS_SQL = """
WITH d AS (
    SELECT {group} AS grp,
           {tta} AS tta,
           CASE WHEN i.status = 'resolved' THEN {ttr} END AS ttr,
           CASE WHEN {late} > 0 OR ({acked} IS NULL AND {breach_event} = 1)
                THEN 1 ELSE 0 END AS breached
    FROM incidents_incident i
    JOIN incidents_timelineevent e ON e.incident_id = i.id
    {join}
    WHERE i.declared_at >= %s AND i.declared_at < %s
      AND e.kind IN ('declared', 'acknowledged', 'resolved', 'ack_target_breached')
    GROUP BY i.id, i.status, i.ack_due_at, {group}
), r AS (
    SELECT grp, tta, ttr, breached,
           COUNT(tta) OVER (PARTITION BY grp) AS n_tta,
           ROW_NUMBER() OVER (PARTITION BY grp
                              ORDER BY CASE WHEN tta IS NULL THEN 1 ELSE 0 END, tta) AS rn_tta,
           COUNT(ttr) OVER (PARTITION BY grp) AS n_ttr,
           ROW_NUMBER() OVER (PARTITION BY grp
                              ORDER BY CASE WHEN ttr IS NULL THEN 1 ELSE 0 END, ttr) AS rn_ttr
    FROM d
)
SELECT grp, COUNT(*), MAX(n_tta), {tta_p50}, {tta_p90}, MAX(n_ttr), {ttr_p50}, {ttr_p90},
       SUM(breached)
FROM r
GROUP BY grp
ORDER BY grp
"""

NO_SERVICE = "(no service)"


@dataclass
class DurationRow:
    group: str
    incidents: int
    acknowledged: int
    tta_p50: float | None
    tta_p90: float | None
    resolved: int
    ttr_p50: float | None
    ttr_p90: float | None
    ack_breaches: int


@dataclass
class Metrics:
    start: datetime
    end: datetime
    by_severity: list[DurationRow]
    by_service: list[DurationRow]
    weeks: list[tuple[date, int]]
    reviews_required: int
    reviews_published: int
    reviews_on_time: int
    action_items_open: int
    action_items_overdue: int
    totals: DurationRow | None = field(default=None)

    @property
    def completion_rate(self) -> float | None:
        if not self.reviews_required:
            return None
        return self.reviews_published / self.reviews_required


def _durations(start: datetime, end: datetime, by: str) -> list[DurationRow]:
    if by == "severity":
        group, join = "i.severity", ""
    else:
        group = f"COALESCE(sv.name, '{NO_SERVICE}')"
        join = (
            "LEFT JOIN incidents_incident_services s ON s.incident_id = i.id "
            "LEFT JOIN incidents_service sv ON sv.id = s.service_id"
        )
    # Per incident (one GROUP BY over its events, no second pass over incidents): the
    # declaration, first acknowledgement, last resolution and whether a breach was recorded.
    declared = "MIN(CASE WHEN e.kind = 'declared' THEN e.at END)"
    acked = "MIN(CASE WHEN e.kind = 'acknowledged' THEN e.at END)"
    resolved = "MAX(CASE WHEN e.kind = 'resolved' THEN e.at END)"
    sql = DURATIONS_SQL.format(
        group=group,
        join=join,
        acked=acked,
        breach_event="MAX(CASE WHEN e.kind = 'ack_target_breached' THEN 1 ELSE 0 END)",
        tta=_seconds(acked, declared),
        ttr=_seconds(resolved, declared),
        late=_seconds(acked, "i.ack_due_at"),
        tta_p50=_percentile("tta", 50),
        tta_p90=_percentile("tta", 90),
        ttr_p50=_percentile("ttr", 50),
        ttr_p90=_percentile("ttr", 90),
    )
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(sql, [adapt(start), adapt(end)])
        rows = cursor.fetchall()

    def num(value):
        return round(float(value), 3) if value is not None else None

    return [
        DurationRow(
            group=str(g),
            incidents=int(n),
            acknowledged=int(n_tta or 0),
            tta_p50=num(a50),
            tta_p90=num(a90),
            resolved=int(n_ttr or 0),
            ttr_p50=num(r50),
            ttr_p90=num(r90),
            ack_breaches=int(b or 0),
        )
        for g, n, n_tta, a50, a90, n_ttr, r50, r90, b in rows
    ]


def compute(start: datetime, end: datetime, today: date | None = None) -> Metrics:
    """Metrics of the incidents declared in [start, end)."""
    today = today or timezone.localdate()
    by_severity = _durations(start, end, "severity")
    order = {s.value: i for i, s in enumerate(Severity)}
    by_severity.sort(key=lambda r: order.get(r.group, 99))
    by_service = _durations(start, end, "service")

    counted = dict(
        TimelineEvent.objects.filter(kind=Kind.DECLARED, at__gte=start, at__lt=end)
        .annotate(week=TruncWeek("at"))
        .values("week")
        .annotate(n=Count("id"))
        .values_list("week", "n")
    )
    counted = {(w.date() if isinstance(w, datetime) else w): n for w, n in counted.items() if w}
    weeks = []
    first = timezone.localtime(start).date() if timezone.is_aware(start) else start.date()
    monday = first - timedelta(days=first.weekday())
    last = (timezone.localtime(end) - timedelta(microseconds=1)).date()
    while monday <= last and len(weeks) < 260:
        weeks.append((monday, counted.get(monday, 0)))
        monday += timedelta(days=7)

    reviews = PostIncidentReview.objects.filter(
        incident__declared_at__gte=start, incident__declared_at__lt=end, required=True
    ).aggregate(
        required=Count("id"),
        published=Count("id", filter=Q(published_at__isnull=False)),
        on_time=Count("id", filter=Q(published_at__isnull=False, published_at__lte=F("due_at"))),
    )
    items = ActionItem.objects.aggregate(
        open=Count("id", filter=Q(status__in=["open", "in_progress"])),
        overdue=Count("id", filter=Q(status__in=["open", "in_progress"], due_date__lt=today)),
    )
    return Metrics(
        start=start,
        end=end,
        by_severity=by_severity,
        by_service=by_service,
        weeks=weeks,
        reviews_required=reviews["required"],
        reviews_published=reviews["published"],
        reviews_on_time=reviews["on_time"],
        action_items_open=items["open"],
        action_items_overdue=items["overdue"],
    )


def to_csv(metrics: Metrics) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["period_start", metrics.start.isoformat(), "period_end", metrics.end.isoformat()]
    )
    writer.writerow([])
    header = [
        "dimension",
        "group",
        "incidents",
        "acknowledged",
        "mtta_median_s",
        "mtta_p90_s",
        "resolved",
        "mttr_median_s",
        "mttr_p90_s",
        "ack_target_breaches",
    ]
    writer.writerow(header)
    for dimension, rows in (("severity", metrics.by_severity), ("service", metrics.by_service)):
        for r in rows:
            writer.writerow(
                [
                    dimension,
                    r.group,
                    r.incidents,
                    r.acknowledged,
                    r.tta_p50,
                    r.tta_p90,
                    r.resolved,
                    r.ttr_p50,
                    r.ttr_p90,
                    r.ack_breaches,
                ]
            )
    writer.writerow([])
    writer.writerow(["week_starting", "incidents"])
    for week, n in metrics.weeks:
        writer.writerow([week.isoformat(), n])
    writer.writerow([])
    writer.writerow(
        [
            "reviews_required",
            "reviews_published",
            "reviews_published_on_time",
            "action_items_open",
            "action_items_overdue",
        ]
    )
    writer.writerow(
        [
            metrics.reviews_required,
            metrics.reviews_published,
            metrics.reviews_on_time,
            metrics.action_items_open,
            metrics.action_items_overdue,
        ]
    )
    return out.getvalue()
