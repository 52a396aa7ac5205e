"""Comms templates, the publish panel and its permissions, and the update cadence."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from incidents import actions
from incidents.models import TimelineEvent
from incidents.statuspage import proposals, tasks
from incidents.statuspage.actions import publish_update
from incidents.statuspage.models import CommsTemplate, StatusUpdate, UpdateCadence
from incidents.statuspage.render import fill, incident_fields
from runbooks.importer import import_runbook
from runbooks.models import Proposal
from tests.conftest import HTMX, client_for
from tests.seeds import SEED_FILES, needs_seeds

Kind = TimelineEvent.Kind


# -- rendering ---------------------------------------------------------------------------------
def test_placeholders_in_every_style_are_filled_from_the_incident(comms_incident):
    body = (
        "[Service Name] is down since [time] ({severity}, {{ status }}).\n"
        "Impact: <impact>. Ref [reference] on [Date]. ~X% affected; cause: [root cause]."
    )
    fields = incident_fields(comms_incident)
    text, left = fill(body, fields)
    assert "Payments is down since " in text
    assert "(P1, Investigating)" in text
    assert "Impact: Card payments fail for about a third of checkouts." in text
    assert comms_incident.reference in text
    assert timezone.localtime(comms_incident.declared_at).strftime("%Y-%m-%d") in text
    # What the incident can't say stays visible for the communicator.
    assert left == ["X%", "[root cause]"]
    assert "~X% affected; cause: [root cause]." in text


def test_unknown_field_of_the_incident_stays_as_written(responder):
    incident = actions.declare_incident(title="Slow", severity="P3", declared_by=responder)
    text, left = fill("Affecting [service]: [impact]", incident_fields(incident))
    assert text == "Affecting [service]: [impact]"
    assert left == ["[service]", "[impact]"]


def import_seeds():
    versions = []
    for path in SEED_FILES:
        versions.append(import_runbook(path.read_bytes(), filename=path.name).version)
    return versions


@needs_seeds
def test_seed_templates_are_proposed_accepted_and_rendered(lead, comms_incident):
    import_seeds()
    found = list(Proposal.objects.filter(kind=Proposal.Kind.COMMS_TEMPLATE))
    assert len(found) >= 3
    for proposal in found:
        template = proposals.accept(proposal, by=lead)
        assert template.origin == CommsTemplate.Origin.RUNBOOK
        assert template.body == proposal.payload["content"].strip()
    assert CommsTemplate.objects.count() == len(found)
    assert not Proposal.objects.filter(
        kind=Proposal.Kind.COMMS_TEMPLATE, status=Proposal.Status.PROPOSED
    ).exists()
    fields = incident_fields(comms_incident, next_update_at=timezone.now())
    filled_any = False
    for template in CommsTemplate.objects.all():
        text, left = fill(template.body, fields)
        for placeholder in left:
            assert placeholder in text
        if "[service]" in template.body:
            # "…an issue affecting [service]. Impact: [description of impact]"
            assert "affecting Payments" in text
            assert "Impact: Card payments fail for about a third of checkouts" in text
            assert left == []
            filled_any = True
    assert filled_any
    # A P0 template says so in its name: it is marked for P0.
    assert CommsTemplate.objects.filter(severity="P0").exists()


@needs_seeds
def test_accepting_a_comms_proposal_through_the_runbook_page(lead, responder):
    version = import_seeds()[0]
    proposal = Proposal.objects.filter(kind=Proposal.Kind.COMMS_TEMPLATE).first()
    assert proposal is not None
    page = client_for(lead).get(proposal.version.get_absolute_url()).content.decode()
    assert f'id="proposal-{proposal.pk}-accept"' in page
    refused = client_for(responder).post(f"/runbooks/proposals/{proposal.pk}/accept/")
    assert refused.status_code == 403
    response = client_for(lead).post(f"/runbooks/proposals/{proposal.pk}/accept/")
    assert response.status_code == 302
    assert CommsTemplate.objects.get(proposal=proposal).origin == "runbook"
    again = client_for(lead).post(f"/runbooks/proposals/{proposal.pk}/accept/", follow=True)
    assert "already accepted" in again.content.decode()
    assert CommsTemplate.objects.count() == 1
    assert version


# -- templates pages ---------------------------------------------------------------------------
def test_leads_manage_templates(lead, responder):
    client = client_for(lead)
    bad = client.post("/incidents/comms-templates/new/", {"name": "Outage", "body": "  "})
    assert bad.status_code == 422
    assert "A template needs some text." in bad.content.decode()
    assert 'value="Outage"' in bad.content.decode()
    response = client.post(
        "/incidents/comms-templates/new/",
        {"name": "Outage", "severity": "P0", "body": "We are investigating [service]."},
    )
    assert response.status_code == 302
    template = CommsTemplate.objects.get()
    assert (template.origin, template.created_by, template.severity) == ("manual", lead, "P0")
    listing = client_for(responder).get("/incidents/comms-templates/").content.decode()
    assert "Outage" in listing and "New template" not in listing
    assert (
        client_for(responder).post(f"/incidents/comms-templates/{template.pk}/").status_code == 403
    )
    client.post(
        f"/incidents/comms-templates/{template.pk}/",
        {"name": "Outage v2", "severity": "", "body": "Still [service]."},
    )
    template.refresh_from_db()
    assert (template.name, template.severity) == ("Outage v2", "")
    assert (
        client_for(responder).post(f"/incidents/comms-templates/{template.pk}/delete/").status_code
        == 403
    )
    assert client.get(f"/incidents/comms-templates/{template.pk}/delete/").status_code == 405
    client.post(f"/incidents/comms-templates/{template.pk}/delete/")
    assert not CommsTemplate.objects.exists()


# -- publishing --------------------------------------------------------------------------------
def publish_data(**extra):
    data = {"title": "Payments degraded", "status": "investigating", "body": "We are on it."}
    data.update(extra)
    return data


def test_communicator_publishes_and_a_plain_responder_may_not(
    comms_incident, responder, lead, public_service
):
    from tests.conftest import make_user

    communicator = make_user("cora", "Responder")
    actions.assign_role(comms_incident, role="communicator", user=communicator, by=lead)
    url = f"/incidents/{comms_incident.pk}/status-updates/"

    refused = client_for(responder).post(url, publish_data(), **HTMX)
    assert refused.status_code == 403
    assert client_for(responder).get(url + "compose/").status_code == 403
    assert not StatusUpdate.objects.exists()

    response = client_for(communicator).post(
        url, publish_data(components=[public_service.pk]), **HTMX
    )
    assert response.status_code == 200
    assert response["HX-Trigger"] == "incident-changed"
    update = StatusUpdate.objects.get()
    assert (update.published_by, update.status) == (communicator, "investigating")
    assert list(update.components.all()) == [public_service]
    event = comms_incident.events.get(kind=Kind.UPDATE_PUBLISHED)
    assert event.data["update_id"] == update.pk and event.text == "We are on it."

    # A lead may publish without holding the role; a plain form post redirects back.
    response = client_for(lead).post(url, publish_data(status="identified"))
    assert response.status_code == 302
    assert StatusUpdate.objects.count() == 2

    # Handing the role over takes the right away.
    actions.assign_role(comms_incident, role="communicator", user=responder, by=lead)
    assert client_for(communicator).post(url, publish_data(), **HTMX).status_code == 403
    assert client_for(responder).post(url, publish_data(), **HTMX).status_code == 200


def test_publish_endpoints_refuse_anonymous_and_wrong_methods(comms_incident, lead):
    from django.test import Client

    url = f"/incidents/{comms_incident.pk}/status-updates/"
    anonymous = Client().post(url, publish_data())
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
    assert client_for(lead).get(url).status_code == 405
    assert client_for(lead).post(url + "compose/").status_code == 405


def test_invalid_update_keeps_what_was_typed(comms_incident, lead):
    url = f"/incidents/{comms_incident.pk}/status-updates/"
    typed = "Card payments fail: [what users experienced] since 10:00."
    response = client_for(lead).post(url, publish_data(title="", body=typed), **HTMX)
    assert response.status_code == 422
    page = response.content.decode()
    assert "Give the update a public title." in page
    assert "Fill in or remove: [what users experienced]" in page
    assert typed in page
    assert not StatusUpdate.objects.exists()
    assert not comms_incident.events.filter(kind=Kind.UPDATE_PUBLISHED).exists()
    # Without htmx: the whole incident page, the editor open with the text in it.
    response = client_for(lead).post(url, publish_data(body=typed))
    assert response.status_code == 422
    assert typed in response.content.decode()
    # Ticking "publish as written" publishes it.
    response = client_for(lead).post(url, publish_data(body=typed, allow_placeholders="1"))
    assert response.status_code == 302
    assert StatusUpdate.objects.get().body == typed


def test_compose_renders_the_template_into_the_editor(comms_incident, lead):
    template = CommsTemplate.objects.create(
        name="Investigating",
        body="We are investigating [service]. Impact: [impact]. Cause: [root cause]",
    )
    url = f"/incidents/{comms_incident.pk}/status-updates/compose/?template={template.pk}"
    response = client_for(lead).get(url, **HTMX)
    assert response.status_code == 200
    page = response.content.decode()
    assert "We are investigating Payments. Impact: Card payments fail" in page
    assert "Still to fill in" in page
    assert f'value="{comms_incident.title}"' in page
    full = client_for(lead).get(url)
    assert full.status_code == 200 and "We are investigating Payments." in full.content.decode()
    bad = client_for(lead).get(
        f"/incidents/{comms_incident.pk}/status-updates/compose/?template=x", **HTMX
    )
    assert bad.status_code == 400


def test_the_incident_page_shows_the_panel_and_editor_outside_live_parts(comms_incident, lead):
    publish_update(
        comms_incident, title="Payments down", status="identified", body="Found it.", by=lead
    )
    page = client_for(lead).get(comms_incident.get_absolute_url()).content.decode()
    assert 'id="su-live"' in page and 'id="su-form"' in page
    assert "Found it." in page
    poll = client_for(lead).get(f"/incidents/{comms_incident.pk}/timeline/?since=0", **HTMX)
    live = poll.content.decode()
    assert 'id="su-live"' in live and "Found it." in live
    assert 'id="su-form"' not in live  # the editor is never swapped by a poll


# -- cadence -----------------------------------------------------------------------------------
def test_first_update_is_due_one_cadence_after_declaration(responder):
    p0 = actions.declare_incident(title="All down", severity="P0", declared_by=responder)
    p2 = actions.declare_incident(title="Slow", severity="P2", declared_by=responder)
    assert UpdateCadence.objects.get(incident=p0).due_at == p0.declared_at + timedelta(minutes=15)
    assert UpdateCadence.objects.get(incident=p2).due_at == p2.declared_at + timedelta(minutes=30)


def test_overdue_update_is_reminded_once_to_the_communicator(
    comms_incident, lead, django_capture_on_commit_callbacks
):
    from tests.conftest import make_user

    communicator = make_user("cora", "Responder")
    actions.assign_role(comms_incident, role="communicator", user=communicator, by=lead)
    actions.assign_role(comms_incident, role="commander", user=lead, by=lead)
    start = timezone.now()
    with time_machine.travel(start + timedelta(minutes=29), tick=False):
        assert tasks.remind_overdue() == 0
    with (
        time_machine.travel(start + timedelta(minutes=31), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert tasks.remind_overdue() == 1
        assert tasks.remind_overdue() == 0
        assert tasks.remind(comms_incident.pk) is False
        page = client_for(lead).get(comms_incident.get_absolute_url()).content.decode()
        assert "Status update overdue" in page
    overdue = comms_incident.events.filter(kind=Kind.UPDATE_OVERDUE)
    assert overdue.count() == 1
    assert overdue.get().data["reminded"] == "cora"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["cora@example.com"]
    assert comms_incident.reference in mail.outbox[0].subject

    # Publishing restarts the clock (and the reminder) from the update.
    with time_machine.travel(start + timedelta(minutes=40), tick=False):
        publish_update(
            comms_incident, title="Payments", status="identified", body="Fix rolling out", by=lead
        )
    with time_machine.travel(start + timedelta(minutes=69), tick=False):
        assert tasks.remind_overdue() == 0
    with (
        time_machine.travel(start + timedelta(minutes=71), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert tasks.remind_overdue() == 1
    assert overdue.count() == 2 and len(mail.outbox) == 2


def test_reminder_goes_to_the_commander_or_only_to_the_timeline(
    responder, lead, django_capture_on_commit_callbacks
):
    with_commander = actions.declare_incident(title="A", severity="P0", declared_by=responder)
    actions.assign_role(with_commander, role="commander", user=lead, by=lead)
    nobody = actions.declare_incident(title="B", severity="P0", declared_by=responder)
    with (
        time_machine.travel(timezone.now() + timedelta(minutes=16), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert tasks.remind_overdue() == 2
    assert [m.to for m in mail.outbox] == [["leo@example.com"]]
    assert nobody.events.filter(kind=Kind.UPDATE_OVERDUE).count() == 1
    assert "reminded" not in nobody.events.get(kind=Kind.UPDATE_OVERDUE).data


def test_resolving_stops_the_cadence(comms_incident, lead):
    actions.change_status(comms_incident, to="resolved", by=lead)
    assert UpdateCadence.objects.get(incident=comms_incident).due_at is None
    with time_machine.travel(timezone.now() + timedelta(hours=3), tick=False):
        assert tasks.remind_overdue() == 0
    actions.change_status(comms_incident, to="investigating", by=lead)
    assert UpdateCadence.objects.get(incident=comms_incident).due_at is not None


def test_severity_change_moves_the_due_time(comms_incident, lead):
    actions.change_severity(comms_incident, to="P0", by=lead)
    cadence = UpdateCadence.objects.get(incident=comms_incident)
    assert cadence.due_at == comms_incident.declared_at + timedelta(minutes=15)


def test_the_beat_schedule_runs_the_reminder_every_30_seconds(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["remind-overdue-updates"]
    assert entry["task"] == tasks.remind_overdue.name
    assert entry["schedule"] == 30.0


@pytest.mark.parametrize("size", [1, 30])
def test_the_due_sweep_is_one_query_when_nothing_is_due(responder, size, django_assert_num_queries):
    for n in range(size):
        actions.declare_incident(title=f"I{n}", severity="P2", declared_by=responder)
    with django_assert_num_queries(1):
        assert tasks.remind_overdue() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_sweeps_remind_once(groups):
    """Two sweeps at once (two beat ticks, two workers): the conditional UPDATE lets one win."""
    import threading

    from django.db import connection

    from tests.conftest import make_user

    user = make_user("cora", "Responder")
    incident = actions.declare_incident(title="Race", severity="P0", declared_by=user)
    actions.assign_role(incident, role="communicator", user=user, by=user)
    later = timezone.now() + timedelta(minutes=16)
    results: list[int] = []
    barrier = threading.Barrier(2)

    def sweep() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(sum(tasks.remind(incident.pk, later) for _ in range(3)))
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [0, 1]
    assert incident.events.filter(kind=Kind.UPDATE_OVERDUE).count() == 1
    assert len(mail.outbox) == 1


def test_migration_starts_a_cadence_for_open_incidents(responder):
    from importlib import import_module

    from django.apps import apps

    open_one = actions.declare_incident(title="Old open", severity="P0", declared_by=responder)
    resolved = actions.declare_incident(title="Old done", severity="P1", declared_by=responder)
    actions.change_status(resolved, to="resolved", by=responder)
    UpdateCadence.objects.all().delete()  # as before status updates existed
    migration = import_module("incidents.migrations.0010_cadence_for_open_incidents")
    before = timezone.now()
    migration.start_cadences(apps, None)
    cadence = UpdateCadence.objects.get()
    assert cadence.incident_id == open_one.pk
    assert cadence.due_at >= before + timedelta(minutes=15)
