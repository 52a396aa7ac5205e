"""Metrics: MTTA/MTTR medians and p90 by severity and service, incidents per week, breaches,
reviews and action items — checked against a hand computation, and in a constant number of
queries at 50 and at 5,000 incidents."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.db import connection

from incidents import actions
from incidents.models import ACK_TARGETS, Incident, Service, Severity, TimelineEvent
from incidents.reviews import actions as review_actions
from incidents.reviews.metrics import compute
from incidents.reviews.models import ActionItem
from tests.conftest import client_for

Kind = TimelineEvent.Kind
pytestmark = pytest.mark.django_db
START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
END = datetime(2026, 3, 30, tzinfo=UTC)  # four weeks later


def incident_at(by, severity, day, services, tta=None, ttr=None, breach=False):
    at = START + timedelta(days=day, hours=9)
    incident = actions.declare_incident(
        title=f"{severity} on day {day}",
        severity=severity,
        declared_by=by,
        services=services,
        at=at,
    )
    if tta is not None:
        actions.acknowledge(incident, by=by, at=at + timedelta(seconds=tta))
    if breach:
        actions.record_ack_breach(incident.pk, now=at + ACK_TARGETS[severity])
    if ttr is not None:
        actions.change_status(incident, to="resolved", by=by, at=at + timedelta(seconds=ttr))
    return incident


@pytest.fixture
def history(lead):
    payments = Service.objects.create(name="Payments")
    api = Service.objects.create(name="API")
    # P1 on Payments: TTA 2, 4, 6, 10 min; TTR 30, 60, 90, 120 min.
    p1 = [
        incident_at(lead, "P1", 0, [payments], tta=120, ttr=1800),
        incident_at(lead, "P1", 1, [payments], tta=240, ttr=3600),
        incident_at(lead, "P1", 8, [payments], tta=360, ttr=5400),
        incident_at(lead, "P1", 15, [payments], tta=600, ttr=7200),
    ]
    # P2 on API: TTA 1 min, 5 min, 5 h (late: the target is 4 h); two resolved: 10, 20 min
    # after declaration... the late one resolves after 6 h. One P2 without a service, never
    # acknowledged, breach recorded, still open.
    incident_at(lead, "P2", 2, [api], tta=60, ttr=600)
    incident_at(lead, "P2", 9, [api], tta=300, ttr=1200)
    incident_at(lead, "P2", 16, [api], tta=18000, ttr=21600)
    incident_at(lead, "P2", 22, [], breach=True)
    # Outside the period: must not count.
    incident_at(lead, "P1", 40, [payments], tta=5, ttr=10)
    # Reviews: the four P1s are required; one is published on time, one late.
    review = p1[0].review
    review_actions.save_review(review, by=lead, fields={"root_cause": "Pool exhausted"})
    with time_machine.travel(p1[0].resolved_at + timedelta(hours=20), tick=False):
        review_actions.publish(review, by=lead)
    # A second one published, but after its 48 hours: completed, not on time.
    late = p1[1].review
    review_actions.save_review(late, by=lead, fields={"root_cause": "Bad config"})
    review_actions.publish(late, by=lead)
    ActionItem.objects.create(review=review, title="Raise pool", due_date=date(2026, 3, 20))
    ActionItem.objects.create(review=review, title="Alert on pool", due_date=date(2999, 1, 1))
    ActionItem.objects.create(review=review, title="Old", status="done", due_date=date(2026, 3, 1))
    return p1


def test_metrics_match_a_hand_computation(history):
    m = compute(START, END)
    p1, p2 = m.by_severity
    # P1 TTA sorted [120, 240, 360, 600], n=4: median = rank ceil(0.5*4)=2 → 240;
    # p90 = rank ceil(0.9*4)=4 → 600. TTR [1800, 3600, 5400, 7200]: 3600 and 7200.
    assert (p1.group, p1.incidents, p1.acknowledged, p1.resolved) == ("P1", 4, 4, 4)
    assert (p1.tta_p50, p1.tta_p90) == (240, 600)
    assert (p1.ttr_p50, p1.ttr_p90) == (3600, 7200)
    assert p1.ack_breaches == 0
    # P2 TTA [60, 300, 18000] (the fourth never acknowledged), n=3: median rank 2 → 300,
    # p90 rank ceil(2.7)=3 → 18000. TTR [600, 1200, 21600]: 1200 and 21600.
    # Breaches: acknowledged after 5 h (target 4 h) + never acknowledged with a breach = 2.
    assert (p2.group, p2.incidents, p2.acknowledged, p2.resolved) == ("P2", 4, 3, 3)
    assert (p2.tta_p50, p2.tta_p90) == (300, 18000)
    assert (p2.ttr_p50, p2.ttr_p90) == (1200, 21600)
    assert p2.ack_breaches == 2

    by_service = {r.group: r for r in m.by_service}
    assert set(by_service) == {"API", "Payments", "(no service)"}
    assert (by_service["Payments"].tta_p50, by_service["Payments"].ttr_p90) == (240, 7200)
    assert (by_service["API"].tta_p50, by_service["API"].ttr_p50) == (300, 1200)
    assert by_service["(no service)"].incidents == 1
    assert by_service["(no service)"].tta_p50 is None

    # Days 0, 1, 2 | 8, 9 | 15, 16 | 22 → weeks of 2, 9, 16, 23 March.
    assert m.weeks == [
        (date(2026, 3, 2), 3),
        (date(2026, 3, 9), 2),
        (date(2026, 3, 16), 2),
        (date(2026, 3, 23), 1),
    ]
    assert (m.reviews_required, m.reviews_published, m.reviews_on_time) == (4, 2, 1)
    assert m.completion_rate == 0.5
    assert (m.action_items_open, m.action_items_overdue) == (2, 1)


def test_metrics_page_and_csv(history, manager):
    client = client_for(manager)
    response = client.get(
        "/incidents/metrics/", {"date_from": "2026-03-02", "date_to": "2026-03-29"}
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "<svg" in page and "Incidents declared per week" in page
    assert "50%" in page
    response = client.get(
        "/incidents/metrics/", {"date_from": "2026-03-02", "date_to": "2026-03-29", "format": "csv"}
    )
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert ["severity", "P1", "4", "4", "240.0", "600.0", "4", "3600.0", "7200.0", "0"] in rows
    assert ["2026-03-02", "3"] in rows


def test_bad_period_is_a_400(manager):
    response = client_for(manager).get(
        "/incidents/metrics/", {"date_from": "2026-03-29", "date_to": "2026-03-02"}
    )
    assert response.status_code == 400
    assert "ends before it starts" in response.content.decode()


def generate(n: int, by) -> None:
    """n incidents over 13 weeks with declared/acknowledged/resolved events, bulk-inserted."""
    services = [Service.objects.get_or_create(name=f"svc-{i}")[0] for i in range(6)]
    severities = list(Severity)
    incidents = []
    for i in range(n):
        severity = severities[i % 4]
        at = START - timedelta(days=60) + timedelta(minutes=37 * i % (90 * 24 * 60))
        incidents.append(
            Incident(
                title=f"generated {i}",
                severity=severity,
                status="resolved",
                declared_by=by,
                declared_at=at,
                ack_due_at=at + ACK_TARGETS[severity],
                acknowledged_at=at + timedelta(seconds=30 + i % 900),
                resolved_at=at + timedelta(seconds=600 + (i * 7) % 20000),
            )
        )
    incidents = Incident.objects.bulk_create(incidents, batch_size=1000)
    events, links = [], []
    through = Incident.services.through
    for i, incident in enumerate(incidents):
        events += [
            TimelineEvent(
                incident=incident,
                kind=Kind.DECLARED,
                actor=by,
                at=incident.declared_at,
                data={"severity": incident.severity},
            ),
            TimelineEvent(
                incident=incident, kind=Kind.ACKNOWLEDGED, actor=by, at=incident.acknowledged_at
            ),
            TimelineEvent(incident=incident, kind=Kind.RESOLVED, actor=by, at=incident.resolved_at),
        ]
        links.append(through(incident_id=incident.pk, service_id=services[i % 6].pk))
    TimelineEvent.objects.bulk_create(events, batch_size=2000)
    through.objects.bulk_create(links, batch_size=2000)
    if connection.vendor == "postgresql":
        # Autovacuum analyses tables this size within a minute of a bulk load; without
        # statistics the planner takes 5,000 incidents for 3 and loops (seconds, not 0.1 s).
        with connection.cursor() as cursor:
            cursor.execute(
                "ANALYZE incidents_incident, incidents_timelineevent, incidents_incident_services"
            )


# compute(): durations by severity, durations by service, incidents per week, reviews,
# action items.
METRICS_QUERIES = 5


@pytest.mark.parametrize("size", [50, 5000])
def test_metrics_in_constant_queries(size, lead, manager, django_assert_num_queries):
    generate(size, lead)
    start, end = START - timedelta(days=61), START + timedelta(days=31)
    with django_assert_num_queries(METRICS_QUERIES):
        m = compute(start, end)
    assert sum(r.incidents for r in m.by_severity) == size
    assert sum(n for _, n in m.weeks) == size
    client = client_for(manager)
    client.get("/incidents/metrics/")  # warm the session and permission caches
    # session, user, the user's own and group permissions, then the metrics queries.
    began = time.perf_counter()
    with django_assert_num_queries(4 + METRICS_QUERIES):
        response = client.get(
            "/incidents/metrics/",
            {"date_from": start.date().isoformat(), "date_to": end.date().isoformat()},
        )
    elapsed = time.perf_counter() - began
    assert response.status_code == 200
    print(f"\nmetrics page on {size} incidents: {elapsed * 1000:.0f} ms")
