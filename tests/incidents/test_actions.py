from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents import actions
from incidents.models import Incident, PinnedNote, RoleAssignment, TimelineEvent

Kind = TimelineEvent.Kind


def kinds(incident: Incident) -> list[str]:
    return list(incident.events.order_by("id").values_list("kind", flat=True))


def test_declare_writes_one_event_and_sets_the_ack_target(responder, service):
    before = timezone.now()
    incident = actions.declare_incident(
        title="Checkout down", severity="P0", declared_by=responder, services=[service]
    )
    assert incident.reference == f"INC-{incident.pk:04d}"
    assert kinds(incident) == [Kind.DECLARED]
    assert incident.ack_due_at - incident.declared_at == timedelta(minutes=15)
    assert incident.declared_at >= before
    event = incident.events.get()
    assert event.data == {"severity": "P0", "services": ["Payments"]}
    assert event.actor == responder


@pytest.mark.parametrize(
    ("severity", "target"),
    [
        ("P0", timedelta(minutes=15)),
        ("P1", timedelta(hours=1)),
        ("P2", timedelta(hours=4)),
        ("P3", timedelta(hours=24)),
    ],
)
def test_ack_targets_per_severity(responder, severity, target):
    incident = actions.declare_incident(title="Something", severity=severity, declared_by=responder)
    assert incident.ack_target == target
    assert incident.ack_due_at == incident.declared_at + target


def test_each_action_writes_exactly_one_event(incident, responder, lead):
    steps = [
        (lambda: actions.acknowledge(incident, by=responder), Kind.ACKNOWLEDGED),
        (lambda: actions.change_severity(incident, to="P0", by=lead), Kind.SEVERITY_CHANGED),
        (lambda: actions.change_status(incident, to="identified", by=lead), Kind.STATUS_CHANGED),
        (
            lambda: actions.assign_role(incident, role="commander", user=lead, by=lead),
            Kind.ROLE_ASSIGNED,
        ),
        (
            lambda: actions.assign_role(incident, role="commander", user=responder, by=lead),
            Kind.ROLE_HANDED_OVER,
        ),
        (lambda: actions.unassign_role(incident, role="commander", by=lead), Kind.ROLE_UNASSIGNED),
        (lambda: actions.add_note(incident, text="db CPU 95%", by=responder), Kind.NOTE_ADDED),
        (lambda: actions.change_status(incident, to="resolved", by=lead), Kind.RESOLVED),
        (lambda: actions.change_status(incident, to="investigating", by=lead), Kind.REOPENED),
    ]
    # The first resolution also opens the post-incident review, which has its own event.
    own = incident.events.exclude(kind=Kind.REVIEW_OPENED)
    for run, kind in steps:
        count = own.count()
        event = run()
        assert own.count() == count + 1
        assert event.kind == kind
        assert own.order_by("-id").first() == event


def test_acknowledge_records_time_and_refuses_twice(incident, responder, lead):
    event = actions.acknowledge(incident, by=responder)
    incident.refresh_from_db()
    assert incident.acknowledged_by == responder
    assert incident.acknowledged_at == event.at
    assert event.data["within_target"] is True
    with pytest.raises(actions.ActionError, match="Already acknowledged"):
        actions.acknowledge(incident, by=lead)
    assert incident.events.filter(kind=Kind.ACKNOWLEDGED).count() == 1


def test_acknowledge_on_behalf_records_both_people(incident, responder, lead):
    event = actions.acknowledge(incident, by=lead, on_behalf_of=responder)
    incident.refresh_from_db()
    assert incident.acknowledged_by == responder
    assert event.actor == lead
    assert event.data["on_behalf_of"] == responder.username


def test_severity_change_moves_an_unacknowledged_target(incident, lead):
    event = actions.change_severity(incident, to="P0", by=lead, reason="spreading")
    incident.refresh_from_db()
    assert event.data == {"from": "P1", "to": "P0"}
    assert event.text == "spreading"
    assert incident.ack_due_at == incident.declared_at + timedelta(minutes=15)
    with pytest.raises(actions.ActionError):
        actions.change_severity(incident, to="P0", by=lead)


def test_status_flow_sets_mitigated_and_resolved_and_reopen_clears(incident, lead):
    actions.change_status(incident, to="identified", by=lead)
    assert incident.mitigated_at is None
    actions.change_status(incident, to="monitoring", by=lead)
    assert incident.mitigated_at is not None
    mitigated = incident.mitigated_at
    resolved = actions.change_status(incident, to="resolved", by=lead)
    assert incident.resolved_at == resolved.at
    reopened = actions.change_status(incident, to="investigating", by=lead, note="came back")
    assert reopened.kind == Kind.REOPENED
    assert reopened.data == {"from": "resolved", "to": "investigating"}
    assert incident.resolved_at is None
    assert incident.mitigated_at == mitigated
    with pytest.raises(actions.ActionError):
        actions.change_status(incident, to="investigating", by=lead)


def test_role_handover_keeps_history_and_one_current_holder(incident, responder, lead):
    actions.assign_role(incident, role="commander", user=lead, by=lead)
    event = actions.assign_role(incident, role="commander", user=responder, by=lead)
    assert event.data == {"role": "commander", "to": responder.username, "from": lead.username}
    history = list(RoleAssignment.objects.filter(incident=incident, role="commander"))
    assert [a.user for a in history] == [lead, responder]
    assert history[0].ended_at is not None and history[1].ended_at is None
    with pytest.raises(actions.ActionError, match="already"):
        actions.assign_role(incident, role="commander", user=responder, by=lead)


def test_pin_and_unpin_are_recorded_without_touching_the_note(incident, responder):
    note = actions.add_note(incident, text="Rolled back deploy 4812", by=responder)
    pinned = actions.pin_note(incident, event=note, by=responder)
    assert pinned.kind == Kind.NOTE_PINNED and pinned.data == {"event_id": note.pk}
    assert PinnedNote.objects.filter(event=note).exists()
    with pytest.raises(actions.ActionError):
        actions.pin_note(incident, event=note, by=responder)
    actions.unpin_note(incident, event=note, by=responder)
    assert not PinnedNote.objects.exists()
    declared = incident.events.get(kind=Kind.DECLARED)
    with pytest.raises(actions.ActionError, match="Only notes"):
        actions.pin_note(incident, event=declared, by=responder)


def test_empty_note_is_refused(incident, responder):
    with pytest.raises(actions.ActionError):
        actions.add_note(incident, text="   ", by=responder)
    assert incident.events.count() == 1


def test_ack_breach_is_recorded_once_and_only_when_due(responder):
    past = timezone.now() - timedelta(minutes=20)
    incident = actions.declare_incident(
        title="Old page", severity="P0", declared_by=responder, at=past
    )
    assert actions.record_ack_breach(incident.pk) is True
    assert actions.record_ack_breach(incident.pk) is False
    breach = incident.events.get(kind=Kind.ACK_TARGET_BREACHED)
    assert breach.actor is None
    assert "15 min" in breach.text

    fresh = actions.declare_incident(title="New page", severity="P0", declared_by=responder)
    assert actions.record_ack_breach(fresh.pk) is False
    actions.acknowledge(fresh, by=responder)
    assert actions.record_ack_breach(fresh.pk, now=timezone.now() + timedelta(hours=1)) is False
