"""An incident with a full history (every kind a review is drafted from) for review tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from django.utils import timezone

from incidents import actions
from incidents.models import Incident, TimelineEvent
from runbooks.checklists import attach_scenario, complete_step, skip_step
from runbooks.importer import import_runbook

Kind = TimelineEvent.Kind
SAMPLE = Path(__file__).resolve().parents[2] / "runbooks" / "samples" / "console-sample.md"
HOSTILE = "<script>alert('x')</script> **not bold** [link](http://evil) # 1. `code` & \\ _u_ |"


def rich_incident(responder, lead, service, start: datetime | None = None) -> Incident:
    """Declared P1, acknowledged, roles, a runbook with a ticked and a skipped step, a failed
    check, an alert, a page, a published status update, a note, monitoring, resolved."""
    start = start or timezone.now() - timedelta(hours=3)

    def at(minutes: float) -> datetime:
        return start + timedelta(minutes=minutes)

    incident = actions.declare_incident(
        title="Checkout returns 502",
        severity="P1",
        declared_by=responder,
        services=[service],
        customer_impact="Customers can't pay",
        summary="Checkout failing for EU users",
        at=at(0),
    )
    actions.record(
        incident,
        Kind.ALERT_FIRING,
        None,
        text="HighErrorRate firing",
        data={"status": "firing", "alert": "HighErrorRate", "alert_id": 1, "labels": {}},
        at=at(0.5),
    )
    actions.record(
        incident,
        Kind.ESCALATION_PAGED,
        None,
        text="Level 1: leo by email",
        data={"level": 1},
        at=at(1),
    )
    actions.acknowledge(incident, by=lead, at=at(4))
    actions.assign_role(incident, role="commander", user=lead, by=lead, at=at(5))
    version = import_runbook(SAMPLE.read_text(), filename="console-sample.md").version
    scenario = version.scenarios.filter(kind="scenario").first() or version.scenarios.first()
    run = attach_scenario(incident, scenario, by=lead, at=at(6))
    steps = list(run.steps.order_by("position"))
    complete_step(steps[0], by=lead, at=at(7))
    skip_step(steps[1], reason="Replica already failed over", by=lead, at=at(8))
    actions.record(
        incident,
        Kind.PROBE_RESULT,
        lead,
        text="ran the check: CRITICAL · 502 from /health",
        data={
            "status": "critical",
            "latency_ms": 812,
            "summary": "502 from /health",
            "probe": "Checkout health",
            "step_id": steps[0].pk,
            "step": "check health",
        },
        at=at(9),
    )
    actions.change_status(incident, to="identified", by=lead, note="Bad deploy", at=at(12))
    actions.add_note(incident, text="Rolling back 4.2.1", by=responder, at=at(13))
    actions.record(
        incident,
        Kind.UPDATE_PUBLISHED,
        lead,
        text="We are rolling back a faulty release.",
        data={"status": "identified"},
        at=at(14),
    )
    actions.change_status(incident, to="monitoring", by=lead, at=at(20))
    actions.change_status(incident, to="resolved", by=lead, at=at(45))
    incident.refresh_from_db()
    return incident


def many_reviews(n: int, by, service, start: datetime) -> list[int]:
    """n resolved P1 incidents (declared, acknowledged, resolved events) with filled-in
    reviews, bulk-inserted; their ids."""
    from incidents.models import ACK_TARGETS
    from incidents.reviews.models import REVIEW_DUE_AFTER, PostIncidentReview

    incidents = []
    for i in range(n):
        at = start + timedelta(minutes=10 * i)
        incidents.append(
            Incident(
                title=f"Checkout errors #{i}",
                severity="P1",
                status="resolved",
                declared_by=by,
                declared_at=at,
                ack_due_at=at + ACK_TARGETS["P1"],
                acknowledged_by=by,
                acknowledged_at=at + timedelta(minutes=3),
                mitigated_at=at + timedelta(minutes=20),
                resolved_at=at + timedelta(minutes=40),
            )
        )
    incidents = Incident.objects.bulk_create(incidents, batch_size=500)
    events = []
    for incident in incidents:
        events += [
            TimelineEvent(
                incident=incident,
                kind=Kind.DECLARED,
                actor=by,
                at=incident.declared_at,
                text=incident.title,
                data={"severity": "P1", "services": [service.name]},
            ),
            TimelineEvent(
                incident=incident,
                kind=Kind.ACKNOWLEDGED,
                actor=by,
                at=incident.acknowledged_at,
                data={"seconds_to_acknowledge": 180, "within_target": True},
            ),
            TimelineEvent(
                incident=incident,
                kind=Kind.RESOLVED,
                actor=by,
                at=incident.resolved_at,
                data={"from": "monitoring", "to": "resolved"},
            ),
        ]
    TimelineEvent.objects.bulk_create(events, batch_size=2000)
    Incident.services.through.objects.bulk_create(
        [Incident.services.through(incident_id=i.pk, service_id=service.pk) for i in incidents],
        batch_size=2000,
    )
    PostIncidentReview.objects.bulk_create(
        [
            PostIncidentReview(
                incident=i,
                required=True,
                opened_at=i.resolved_at,
                due_at=i.resolved_at + REVIEW_DUE_AFTER,
                summary="Checkout failed",
                root_cause=f"Pool exhausted <{i.pk}> *really*",
                fixes_applied="Rolled back",
            )
            for i in incidents
        ],
        batch_size=500,
    )
    return [i.pk for i in incidents]
