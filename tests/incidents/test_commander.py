"""Who is in charge: the declarer commands unless they name someone; anyone on the team takes
command of an incident that has none; the header says who, and what comes next."""

from __future__ import annotations

from incidents import actions
from incidents.models import Incident, Role, RoleAssignment, TimelineEvent
from tests.conftest import HTMX


def commander_of(incident: Incident):
    return RoleAssignment.objects.get(
        incident=incident, role=Role.COMMANDER, ended_at__isnull=True
    ).user


def test_declaring_makes_the_declarer_commander(responder_client, responder):
    response = responder_client.post(
        "/incidents/declare/", {"title": "Checkout returns 502", "severity": "P1"}
    )
    assert response.status_code == 302
    incident = Incident.objects.get()
    assert commander_of(incident) == responder
    # One event for the declaration, naming the commander.
    (event,) = TimelineEvent.objects.filter(incident=incident)
    assert event.kind == "declared" and event.data["commander"] == responder.username
    page = responder_client.get(incident.get_absolute_url()).content.decode()
    assert "is Incident Commander" in page
    assert '<div class="ih-commander"><dt>Commander</dt><dd>\n      <strong>rita</strong>' in page


def test_declarer_can_name_someone_else(responder_client, lead):
    responder_client.post(
        "/incidents/declare/",
        {"title": "Checkout returns 502", "severity": "P1", "commander": lead.pk},
    )
    assert commander_of(Incident.objects.get()) == lead


def test_take_command_when_there_is_none(responder_client, responder, incident):
    page = responder_client.get(incident.get_absolute_url()).content.decode()
    assert "Take command" in page
    response = responder_client.post(f"/incidents/{incident.pk}/take-command/", **HTMX)
    assert response.status_code == 204 and response["HX-Trigger"] == "incident-changed"
    assert commander_of(incident) == responder
    event = TimelineEvent.objects.filter(incident=incident).latest("id")
    assert event.kind == "role_assigned" and event.data == {
        "role": "commander",
        "to": responder.username,
        "taken": True,
    }
    assert "Take command" not in responder_client.get(incident.get_absolute_url()).content.decode()


def test_take_command_is_refused_when_someone_commands(lead_client, incident, responder):
    actions.take_command(incident, by=responder)
    response = lead_client.post(f"/incidents/{incident.pk}/take-command/", **HTMX)
    assert response.status_code == 409
    assert "rita is already Incident Commander" in response.content.decode()
    assert commander_of(incident) == responder


def test_take_command_on_a_resolved_incident_is_refused(lead_client, lead, incident):
    actions.change_status(incident, to="resolved", by=lead)
    response = lead_client.post(f"/incidents/{incident.pk}/take-command/", **HTMX)
    assert response.status_code == 409
    assert not RoleAssignment.objects.filter(incident=incident).exists()


def test_take_command_needs_post(responder_client, incident):
    assert responder_client.get(f"/incidents/{incident.pk}/take-command/").status_code == 405


def test_header_shows_communicator_last_update_and_next_step(
    responder_client, lead, incident
):
    actions.assign_role(incident, role=Role.COMMUNICATOR, user=lead, by=lead)
    page = responder_client.get(incident.get_absolute_url()).content.decode()
    assert '<div class="ih-communicator"><dt>Communicator</dt><dd><strong>leo</strong>' in page
    assert "none yet" in page  # nothing published
    assert "attach a runbook" in page  # no checklist yet
