from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client

from incidents.management.commands.seed_demo import DEFAULT_PASSWORD, INCIDENTS, TEAM
from incidents.models import (
    Incident,
    PinnedNote,
    Role,
    RoleAssignment,
    Service,
    Status,
    TimelineEvent,
)

Kind = TimelineEvent.Kind
pytestmark = pytest.mark.django_db


def table_counts() -> dict[str, int]:
    models = [get_user_model(), Group, Service, Incident, TimelineEvent, RoleAssignment]
    counts = {model.__name__: model.objects.count() for model in models}
    counts["PinnedNote"] = PinnedNote.objects.count()
    counts["memberships"] = get_user_model().groups.through.objects.count()
    return counts


def seed() -> None:
    call_command("seed_demo")


def test_running_twice_changes_nothing(capsys) -> None:
    seed()
    first = table_counts()
    passwords = dict(get_user_model().objects.values_list("username", "password"))

    seed()

    assert table_counts() == first
    assert dict(get_user_model().objects.values_list("username", "password")) == passwords
    assert first["Incident"] == len(INCIDENTS) + 1  # and the one the demo alerts opened
    out = capsys.readouterr().out
    assert "Incidents: 0 created, 3 already present." in out
    assert "Prometheus (demo) already present" in out


def test_users_are_in_their_groups_and_can_log_in(client: Client) -> None:
    seed()

    for person in TEAM:
        user = get_user_model().objects.get(username=person.username)
        assert list(user.groups.values_list("name", flat=True)) == [person.group]
        assert client.login(username=person.username, password=DEFAULT_PASSWORD)
        client.logout()
    assert get_user_model().objects.get(username="lead").has_perm("incidents.assign_roles")
    assert not get_user_model().objects.get(username="responder").has_perm("incidents.assign_roles")


def test_password_comes_from_env_and_is_set_only_on_creation(client: Client, monkeypatch) -> None:
    monkeypatch.setenv("DEMO_PASSWORD", "first-run-secret")
    seed()
    monkeypatch.setenv("DEMO_PASSWORD", "second-run-secret")
    seed()

    assert client.login(username="manager", password="first-run-secret")
    assert not client.login(username="manager", password="second-run-secret")


def events_of(incident: Incident, kind: str) -> list[TimelineEvent]:
    return list(incident.events.filter(kind=kind))


def test_past_incidents_have_timestamps_matching_their_timeline() -> None:
    seed()

    resolved = Incident.objects.filter(status=Status.RESOLVED)
    assert resolved.count() == 2
    for incident in resolved:
        (declared,) = events_of(incident, Kind.DECLARED)
        (acknowledged,) = events_of(incident, Kind.ACKNOWLEDGED)
        (resolved_event,) = events_of(incident, Kind.RESOLVED)
        status_changes = events_of(incident, Kind.STATUS_CHANGED)

        assert declared.at == incident.declared_at
        assert acknowledged.at == incident.acknowledged_at
        assert acknowledged.actor == incident.acknowledged_by
        assert resolved_event.at == incident.resolved_at
        assert [e.data["to"] for e in status_changes] == [Status.IDENTIFIED, Status.MONITORING]
        assert status_changes[-1].at == incident.mitigated_at
        assert events_of(incident, Kind.REOPENED) == []
        assert incident.acknowledged_at <= incident.ack_due_at
        assert incident.role_assignments.filter(role=Role.COMMANDER).exists()


def test_timelines_read_in_time_order() -> None:
    seed()

    for incident in Incident.objects.all():
        times = list(incident.events.order_by("id").values_list("at", flat=True))
        assert times == sorted(times), incident.title
        assert times[0] == incident.declared_at


def test_one_handover_and_current_roles_match_it() -> None:
    seed()

    (handover,) = TimelineEvent.objects.filter(kind=Kind.ROLE_HANDED_OVER)
    incident = handover.incident
    commanders = incident.role_assignments.filter(role=Role.COMMANDER).order_by("started_at")
    previous, current = commanders
    assert previous.ended_at == current.started_at == handover.at
    assert current.ended_at is None
    assert handover.data == {
        "role": Role.COMMANDER,
        "from": previous.user.username,
        "to": current.user.username,
    }


def test_open_incident_is_acknowledged_with_a_commander() -> None:
    seed()

    # The people's open incident (the other open one was opened by the demo alerts).
    (incident,) = Incident.objects.open().filter(dedup_key__isnull=True)
    assert incident.severity == "P2"
    assert incident.status == Status.INVESTIGATING
    assert incident.acknowledged_at is not None
    assert incident.role_assignments.filter(role=Role.COMMANDER, ended_at__isnull=True).exists()
    (severity_change,) = events_of(incident, Kind.SEVERITY_CHANGED)
    assert severity_change.data == {"from": "P3", "to": "P2"}
    assert incident.pins.count() == 1


def test_the_demo_alert_group_opens_an_incident_with_its_alerts(capsys) -> None:
    from incidents.intake.models import Alert, Integration

    seed()
    out = capsys.readouterr().out
    integration = Integration.objects.get(name="Prometheus (demo)")
    path = next(line for line in out.splitlines() if "Alertmanager webhook" in line)
    assert path.split()[-1].startswith("/hooks/alertmanager/")
    incident = Incident.objects.get(dedup_key__startswith="alertmanager:")
    assert incident.severity == "P1"  # HighLatencyP95, by the default routing rules
    assert incident.alerts.count() == 2 and incident.is_open
    assert set(Alert.objects.values_list("integration", flat=True)) == {integration.pk}


def test_demo_has_an_on_call_rotation_and_profiles() -> None:
    from incidents.escalation.models import EscalationPolicy, NotificationProfile, OnCallRotation

    seed()
    seed()
    rotation = OnCallRotation.objects.get(name="Primary on-call")
    assert [u.username for u in rotation.ordered_members()] == [
        "responder",
        "tomasz",
        "amara",
        "lucia",
    ]
    assert rotation.overrides.count() == 1
    assert rotation.on_call_at() is not None
    assert NotificationProfile.objects.count() == len(TEAM)
    assert EscalationPolicy.objects.count() == 4
