"""Pages run a constant number of queries, whatever the amount of data (two sizes each)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents import actions
from incidents.models import Incident, RoleAssignment, Service, TimelineEvent
from probes.models import CheckRequest


def make_incidents(count: int, user, services: list[Service]) -> None:
    now = timezone.now()
    incidents = Incident.objects.bulk_create(
        Incident(
            title=f"Incident {n}",
            severity=f"P{n % 4}",
            declared_by=user,
            declared_at=now - timedelta(minutes=n),
            ack_due_at=now - timedelta(minutes=n) + timedelta(hours=1),
        )
        for n in range(count)
    )
    through = Incident.services.through
    through.objects.bulk_create(
        through(incident_id=i.pk, service_id=services[n % len(services)].pk)
        for n, i in enumerate(incidents)
    )
    RoleAssignment.objects.bulk_create(
        RoleAssignment(incident=i, role="commander", user=user, assigned_by=user) for i in incidents
    )
    TimelineEvent.objects.bulk_create(
        TimelineEvent(incident=i, kind="declared", actor=user, text=i.title) for i in incidents
    )


@pytest.mark.parametrize("size", [5, 2000])
def test_incident_list_queries_do_not_grow(
    responder_client, responder, size, django_assert_num_queries
):
    services = [Service.objects.create(name=f"svc-{n}") for n in range(3)]
    make_incidents(size, responder, services)
    # session, user, user permissions, group permissions, service choices of the filter form,
    # count for the paginator, the page of incidents (+ declared_by), their services,
    # their current roles (+ users)
    with django_assert_num_queries(9):
        response = responder_client.get("/incidents/?state=all")
    assert response.status_code == 200
    assert len(response.context["page"].object_list) == min(size, 50)
    # every filter applied: one more to validate the chosen service; "mine" is an EXISTS
    with django_assert_num_queries(10):
        response = responder_client.get(
            f"/incidents/?state=open&severity=P1&service={services[1].pk}&mine=on"
        )
    assert response.status_code == 200


def add_events(incident, user, count: int) -> None:
    TimelineEvent.objects.bulk_create(
        TimelineEvent(incident=incident, kind="note_added", actor=user, text=f"note {n}")
        for n in range(count)
    )


@pytest.mark.parametrize("size", [3, 1000])
def test_incident_page_queries_do_not_grow(
    lead_client, lead, responder, size, django_assert_num_queries
):
    incident = actions.declare_incident(title="Big one", severity="P0", declared_by=responder)
    actions.assign_role(incident, role="commander", user=lead, by=lead)
    add_events(incident, responder, size)
    note = incident.events.filter(kind="note_added").last()
    actions.pin_note(incident, event=note, by=lead)
    page_levels(incident, lead, size)
    # session, user, user permissions, group permissions, incident (+ declared_by,
    # acknowledged_by), newest page of events (+ actors), whether earlier events exist,
    # current roles (+ users), pins (+ events, actors), services, people for the pickers,
    # checklist runs (+ scenario, version, runbook, attached_by), their steps (+ changed_by),
    # step notes (+ actors), runbook candidates for the suggestions, the incident's alerts
    # (+ integration; one query however many, see tests/incidents/test_intake_views.py),
    # the status-update cadence and latest updates (+ publisher), and for a publisher the
    # public services and comms templates of the editor, the escalation ladder, its pages
    # (+ paged_by), their deliveries
    with django_assert_num_queries(23):
        response = lead_client.get(incident.get_absolute_url())
    assert response.status_code == 200
    assert len(response.context["events"]) == min(size + 3 + 4, 100)  # + 4 levels paged


@pytest.mark.parametrize("size", [3, 1000])
def test_timeline_poll_queries_do_not_grow(
    lead_client, lead, responder, size, django_assert_num_queries
):
    incident = actions.declare_incident(title="Big one", severity="P0", declared_by=responder)
    page_levels(incident, lead, size)
    add_events(incident, responder, size)
    since = list(incident.events.order_by("-id"))[min(size, 10)].pk
    # session, user, user permissions, group permissions, incident with newest event id,
    # events since, whether earlier events exist, roles, pins, services, people,
    # checklist runs, steps, step notes, runbook candidates, alerts, update cadence,
    # latest status updates, escalation, its pages, their deliveries
    with django_assert_num_queries(21):
        response = lead_client.get(
            f"/incidents/{incident.pk}/timeline/?since={since}", HTTP_HX_REQUEST="true"
        )
    assert response.status_code == 200
    assert response.content.decode().count('<li class="event ') == min(size + 1, 11)


def page_levels(incident, lead, size: int) -> None:
    """Page the whole ladder now, each level reaching `size` people by email."""
    from django.contrib.auth.models import Group, User

    from incidents.escalation import engine

    people = User.objects.bulk_create(
        User(username=f"pager-{size}-{n}", email=f"p{n}@example.com") for n in range(size)
    )
    Group.objects.get(name="Lead").user_set.add(*people)
    while True:
        try:
            engine.escalate_now(incident, by=lead)
        except actions.ActionError:
            return


def attach_runs(incident, user, runs: int, steps_per_run: int) -> None:
    """`runs` runbooks of `steps_per_run` steps each, attached, with every state and a note,
    and a step whose code is a check (`redis-cli ping`), bound and run once."""
    from probes import ondemand, proposals
    from runbooks import checklists
    from runbooks.importer import import_runbook

    for n in range(runs):
        steps = "\n".join(f"{i}. Check thing {i} with `tool-{i}`" for i in range(1, steps_per_run))
        text = (
            f"# Runbook {n}\n\n## Scenario {n}\n\n### Symptoms\n- Big one is slow\n\n"
            f"### Diagnosis\n{steps}\n\n```bash\nredis-cli ping\n```\n"
        )
        version = import_runbook(text, filename=f"runbook-{n}.md").version
        proposals.accept(version.proposals.get(kind="step_checks"), by=user)
        run = checklists.attach_scenario(incident, version.scenarios.get(), by=user)
        checked = run.steps.exclude(check_key="").get()
        ondemand.complete_request(
            CheckRequest.objects.create(
                probe=checklists.step_check(checked).probe, step=checked, requested_by=user
            ).pk
        )
        first, second, third = run.steps.all()[:3]
        checklists.complete_step(first, by=user)
        checklists.skip_step(second, reason="not on this stack", by=user)
        checklists.annotate_step(third, text="looked fine", by=user)


@pytest.mark.parametrize(("runs", "steps_per_run"), [(1, 4), (6, 60)])
def test_incident_page_and_poll_queries_do_not_grow_with_checklists(
    lead_client, lead, responder, runs, steps_per_run, django_assert_num_queries
):
    incident = actions.declare_incident(title="Big one", severity="P0", declared_by=responder)
    attach_runs(incident, responder, runs, steps_per_run)
    # the same as without checklists (see above), plus the bound step checks and the
    # latest check runs: runs, steps, notes, checks, check runs and candidates are one query
    # each whatever their number; plus the escalation ladder and its pages (none
    # paged yet, so no deliveries query)
    with django_assert_num_queries(24):
        response = lead_client.get(incident.get_absolute_url())
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('class="cl-step ') == runs * steps_per_run
    assert page.count('class="cl-check ') == runs
    # the poll: the page's queries but the editor's and the declare form's
    with django_assert_num_queries(22):
        response = lead_client.get(
            f"/incidents/{incident.pk}/timeline/?since=0", HTTP_HX_REQUEST="true"
        )
    assert response.status_code == 200
    assert response.content.decode().count('class="cl-step ') == runs * steps_per_run
