"""The escalation engine: ladders, time travel, acknowledgement, stops, stale tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group

from incidents import actions
from incidents.escalation import engine
from incidents.escalation.models import (
    EscalationPage,
    EscalationPolicy,
    IncidentEscalation,
    NotificationDelivery,
)
from incidents.escalation.tasks import escalate_level, sweep_escalations
from incidents.models import Incident, TimelineEvent
from tests.incidents.escalation_helpers import staff_the_ladder

Kind = TimelineEvent.Kind
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def sweep_a_few_times() -> None:
    for _ in range(3):
        sweep_escalations()


def paged_levels(incident: Incident) -> list[int]:
    return list(
        EscalationPage.objects.filter(incident=incident)
        .order_by("level")
        .values_list("level", flat=True)
    )


def kinds(incident: Incident, kind: str) -> int:
    return TimelineEvent.objects.filter(incident=incident, kind=kind).count()


@pytest.fixture
def people(groups):
    return staff_the_ladder()


def test_default_policies_come_from_the_runbooks(db):
    policies = {p.severity: p for p in EscalationPolicy.objects.prefetch_related("levels")}
    assert {s: p.ack_minutes for s, p in policies.items()} == {
        "P0": 15,
        "P1": 60,
        "P2": 240,
        "P3": 1440,
    }
    p0 = [(lv.delay_minutes, lv.name) for lv in policies["P0"].levels.all()]
    assert [delay for delay, _ in p0] == [0, 15, 30, 60]
    assert policies["P0"].levels.get(position=1).rotation.name == "Primary on-call"
    assert policies["P0"].levels.get(position=2).group.name == "Lead"


def test_unacknowledged_p0_climbs_the_ladder_once_per_level(people, responder):
    with time_machine.travel(T0, tick=False) as traveller:
        incident = actions.declare_incident(
            title="Database down", severity="P0", declared_by=responder
        )
        assert IncidentEscalation.objects.get(incident=incident).severity == "P0"
        assert incident.ack_due_at == T0 + timedelta(minutes=15)
        sweep_a_few_times()
        assert paged_levels(incident) == [1]
        first = EscalationPage.objects.get(incident=incident, level=1)
        emails = NotificationDelivery.objects.filter(page=first, channel="email")
        assert [d.user.username for d in emails] == ["oncall-olga"]

        for minutes, expected in [
            (14, [1]),
            (15, [1, 2]),
            (29, [1, 2]),
            (30, [1, 2, 3]),
            (59, [1, 2, 3]),
            (60, [1, 2, 3, 4]),
            (600, [1, 2, 3, 4]),
        ]:
            traveller.move_to(T0 + timedelta(minutes=minutes))
            sweep_a_few_times()
            assert paged_levels(incident) == expected, minutes
    assert kinds(incident, Kind.ESCALATION_PAGED) == 4
    level2 = EscalationPage.objects.get(incident=incident, level=2)
    assert level2.paged_at == T0 + timedelta(minutes=15)
    # The Lead group: lead-lars (and the conftest lead when present); Manager group: carmen.
    assert "lead-lars" in set(
        NotificationDelivery.objects.filter(page=level2, channel="email").values_list(
            "user__username", flat=True
        )
    )
    escalation = IncidentEscalation.objects.get(incident=incident)
    assert escalation.next_level is None and escalation.next_due_at is None


def test_acknowledging_at_20_minutes_stops_levels_3_and_4(people, responder):
    with time_machine.travel(T0, tick=False) as traveller:
        incident = actions.declare_incident(title="API 502", severity="P0", declared_by=responder)
        sweep_a_few_times()
        traveller.move_to(T0 + timedelta(minutes=15))
        sweep_a_few_times()
        traveller.move_to(T0 + timedelta(minutes=20))
        actions.acknowledge(incident, by=responder)
        escalation = IncidentEscalation.objects.get(incident=incident)
        assert escalation.stop_reason == "acknowledged"
        assert escalation.next_due_at is None
        for minutes in (30, 60, 120):
            traveller.move_to(T0 + timedelta(minutes=minutes))
            sweep_a_few_times()
    assert paged_levels(incident) == [1, 2]


def test_a_policy_edit_after_declaration_does_not_change_the_running_ladder(people, responder):
    with time_machine.travel(T0, tick=False) as traveller:
        incident = actions.declare_incident(title="Slow", severity="P0", declared_by=responder)
        sweep_a_few_times()
        level2 = EscalationPolicy.objects.get(severity="P0").levels.get(position=2)
        level2.delay_minutes = 1
        level2.name = "Renamed"
        level2.save()
        traveller.move_to(T0 + timedelta(minutes=5))
        sweep_a_few_times()
        assert paged_levels(incident) == [1]
        traveller.move_to(T0 + timedelta(minutes=15))
        sweep_a_few_times()
    assert EscalationPage.objects.get(incident=incident, level=2).name == (
        "Platform lead + senior engineer"
    )


def test_severity_change_resnapshots_with_a_timeline_event(people, responder, lead):
    with time_machine.travel(T0, tick=False) as traveller:
        incident = actions.declare_incident(title="Cosmetic", severity="P3", declared_by=responder)
        sweep_a_few_times()
        assert paged_levels(incident) == [1]
        old_token = IncidentEscalation.objects.get(incident=incident).token
        traveller.move_to(T0 + timedelta(minutes=20))
        actions.change_severity(incident, to="P0", by=lead)
        applied = TimelineEvent.objects.filter(
            incident=incident, kind=Kind.ESCALATION_POLICY_APPLIED
        ).order_by("id")
        assert [e.data["severity"] for e in applied] == ["P0"]
        assert applied.last().actor == lead
        escalation = IncidentEscalation.objects.get(incident=incident)
        assert escalation.token != old_token
        assert escalation.severity == "P0"
        incident.refresh_from_db()
        # The P0 target, from the declaration: 15 min.
        assert incident.ack_due_at == T0 + timedelta(minutes=15)
        # The old token's task drops out; the sweep pages P0's level 2 (due at 15 min).
        assert escalate_level(incident.pk, 2, old_token) == []
        sweep_a_few_times()
    assert paged_levels(incident) == [1, 2]


def test_resolving_stops_everything(people, responder, lead):
    with time_machine.travel(T0, tick=False) as traveller:
        incident = actions.declare_incident(title="Blip", severity="P0", declared_by=responder)
        actions.change_status(incident, to="resolved", by=lead)
        stopped = TimelineEvent.objects.get(incident=incident, kind=Kind.ESCALATION_STOPPED)
        assert stopped.data["not_paged"] == [
            "On-call engineer",
            "Platform lead + senior engineer",
            "CTO + external support",
            "CEO (customer communication)",
        ]
        traveller.move_to(T0 + timedelta(hours=2))
        sweep_a_few_times()
    assert paged_levels(incident) == []
    assert IncidentEscalation.objects.get(incident=incident).stop_reason == "resolved"


def test_a_stale_token_drops_out(people, responder):
    with time_machine.travel(T0, tick=False):
        incident = actions.declare_incident(title="Disk", severity="P0", declared_by=responder)
        assert escalate_level(incident.pk, 1, "not-the-token") == []
        assert paged_levels(incident) == []
        token = IncidentEscalation.objects.get(incident=incident).token
        assert escalate_level(incident.pk, 1, token) == [1]
        assert escalate_level(incident.pk, 1, token) == []
    assert paged_levels(incident) == [1]


def test_escalate_now_pages_the_next_level_at_once(people, responder, lead):
    with time_machine.travel(T0, tick=False):
        incident = actions.declare_incident(title="Queue", severity="P0", declared_by=responder)
        sweep_a_few_times()
        assert engine.escalate_now(incident, by=lead) == 2
        event = TimelineEvent.objects.filter(incident=incident, kind=Kind.ESCALATION_PAGED).last()
        assert event.actor == lead and event.data["forced"] is True
        sweep_a_few_times()
        assert paged_levels(incident) == [1, 2]
        assert engine.escalate_now(incident, by=lead) == 3
        assert engine.escalate_now(incident, by=lead) == 4
        with pytest.raises(actions.ActionError, match="Every level"):
            engine.escalate_now(incident, by=lead)


def test_reopening_an_unacknowledged_incident_restarts_the_clock(people, responder, lead):
    with time_machine.travel(T0, tick=False) as traveller:
        incident = actions.declare_incident(title="Flap", severity="P0", declared_by=responder)
        sweep_a_few_times()
        actions.change_status(incident, to="resolved", by=lead)
        traveller.move_to(T0 + timedelta(hours=3))
        actions.change_status(incident, to="investigating", by=lead)
        sweep_a_few_times()
        assert paged_levels(incident) == [1]
        traveller.move_to(T0 + timedelta(hours=3, minutes=15))
        sweep_a_few_times()
    assert paged_levels(incident) == [1, 2]


def test_machine_opened_incidents_escalate_too(people):
    with time_machine.travel(T0, tick=False):
        incident, created = actions.open_or_join(
            dedup_key="probe:db", title="Probe failing", severity="P1"
        )
        sweep_a_few_times()
    assert created and paged_levels(incident) == [1]


def test_an_empty_rotation_pages_nobody_but_still_records_the_level(groups, responder):
    Group.objects.get(name="Lead")
    with time_machine.travel(T0, tick=False):
        incident = actions.declare_incident(title="Nobody", severity="P3", declared_by=responder)
        sweep_a_few_times()
    event = TimelineEvent.objects.get(incident=incident, kind=Kind.ESCALATION_PAGED)
    assert event.data["recipients"] == []


def test_acknowledged_incidents_are_not_paged_again(people, responder, lead):
    with time_machine.travel(T0, tick=False) as traveller:
        incident = actions.declare_incident(title="Owned", severity="P1", declared_by=responder)
        sweep_a_few_times()
        actions.acknowledge(incident, by=responder)
        actions.change_severity(incident, to="P0", by=lead)
        actions.change_status(incident, to="resolved", by=lead)
        actions.change_status(incident, to="investigating", by=lead)
        traveller.move_to(T0 + timedelta(hours=5))
        sweep_a_few_times()
    assert paged_levels(incident) == [1]
    assert kinds(incident, Kind.ESCALATION_POLICY_APPLIED) == 0
    # Stopped by the acknowledgement already: resolving writes no second stop.
    assert kinds(incident, Kind.ESCALATION_STOPPED) == 0


def test_the_policy_target_drives_the_acknowledgement_deadline(people, responder, lead):
    EscalationPolicy.objects.filter(severity="P2").update(ack_minutes=90)
    with time_machine.travel(T0, tick=False):
        incident = actions.declare_incident(title="Slow", severity="P2", declared_by=responder)
        assert incident.ack_due_at == T0 + timedelta(minutes=90)
        assert incident.ack_target == timedelta(minutes=90)
        actions.change_severity(incident, to="P1", by=lead)
    incident.refresh_from_db()
    assert incident.ack_due_at == T0 + timedelta(minutes=60)


@pytest.mark.parametrize("size", [3, 300])
def test_the_sweep_is_one_query_for_every_ladder(
    people, responder, size, django_assert_num_queries
):
    with time_machine.travel(T0, tick=False) as traveller:
        for n in range(size):
            actions.declare_incident(title=f"Incident {n}", severity="P3", declared_by=responder)
        sweep_a_few_times()
        assert EscalationPage.objects.count() == size
        traveller.move_to(T0 + timedelta(minutes=5))
        # Nothing due: the ladders due (one query) and the deliveries left behind (two).
        with django_assert_num_queries(3):
            assert sweep_escalations() == 0
