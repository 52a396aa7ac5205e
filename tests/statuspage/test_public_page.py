"""The public status page, status.json, incidents.json and the Atom feed."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from xml.etree import ElementTree as ET

import jsonschema
import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from incidents import actions
from incidents.models import Service
from incidents.statuspage.actions import publish_update
from tests.conftest import client_for, make_user

SCHEMA = json.loads((Path(__file__).parent / "statuspage_schema.json").read_text())
ATOM = "{http://www.w3.org/2005/Atom}"
SECRET_NOTE = "root password is hunter2 on db-primary-7"
PUBLIC_BODY = "Card payments are failing for some customers. We are investigating."


def get(path: str, **headers):
    return Client().get(path, **headers)


@pytest.fixture
def published(comms_incident, lead, public_service, django_capture_on_commit_callbacks):
    """An incident with a secret note, a named responder and one published update."""
    secret_person = make_user("zed.secret", "Responder")
    secret_person.first_name, secret_person.last_name = "Zebedee", "Hiddenname"
    secret_person.email = "zebedee.hidden@internal.example"
    secret_person.save()
    with django_capture_on_commit_callbacks(execute=True):
        actions.add_note(comms_incident, text=SECRET_NOTE, by=secret_person)
        actions.assign_role(comms_incident, role="communicator", user=secret_person, by=lead)
        publish_update(
            comms_incident,
            title="Payment failures",
            status="investigating",
            body=PUBLIC_BODY,
            components=[public_service],
            by=secret_person,
        )
    return comms_incident


def test_all_systems_operational_when_nothing_is_published(public_service, responder):
    # An internal incident with no published update never shows.
    actions.declare_incident(
        title="Internal only: disk 91%",
        severity="P0",
        declared_by=responder,
        services=[public_service],
    )
    response = get("/status/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "All Systems Operational" in page
    assert "Internal only" not in page
    assert "Payments" in page and "Operational" in page
    data = get("/status.json").json()
    jsonschema.validate(data, SCHEMA)
    assert data["status"] == {"indicator": "none", "description": "All Systems Operational"}
    assert data["incidents"] == []
    assert data["components"][0]["status"] == "operational"


def test_status_json_has_the_summary_shape_and_leaks_nothing(published, public_service):
    response = get("/status.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    data = response.json()
    jsonschema.validate(data, SCHEMA)
    assert data["status"]["indicator"] == "major"  # P1
    assert data["components"] == [
        dict(data["components"][0], name="Payments", status="partial_outage")
    ]
    incident = data["incidents"][0]
    assert incident["name"] == "Payment failures"
    assert incident["status"] == "investigating"
    assert incident["impact"] == "major"
    assert incident["incident_updates"][0]["body"] == PUBLIC_BODY
    assert incident["incident_updates"][0]["affected_components"][0]["name"] == "Payments"
    assert incident["components"][0]["id"] == str(public_service.pk)


@pytest.mark.parametrize(
    "path", ["/status/", "/status.json", "/status/incidents.json", "/status/feed.atom"]
)
def test_public_answers_leak_no_note_timeline_or_person(published, path):
    body = get(path).content.decode()
    assert "Payment failures" in body
    for secret in [
        SECRET_NOTE,
        "hunter2",
        "zed.secret",
        "Zebedee",
        "Hiddenname",
        "zebedee.hidden@internal.example",
        "leo",
        "rita",
        "rita@example.com",
        "Stripe webhooks failing",  # the internal title
        "Card payments fail for about a third",  # the internal customer-impact field
        "communicator",
        "payments-api",  # roles, the internal service name
    ]:
        assert secret not in body, (path, secret)


def test_atom_feed_parses_with_one_entry_per_update(published, lead):
    publish_update(
        published, title="Payment failures", status="identified", body="Cause found.", by=lead
    )
    response = get("/status/feed.atom")
    assert response["Content-Type"].startswith("application/atom+xml")
    root = ET.fromstring(response.content)
    assert root.tag == f"{ATOM}feed"
    for tag in ("id", "title", "updated"):
        assert root.find(f"{ATOM}{tag}").text
    assert root.find(f"{ATOM}link[@rel='alternate']").get("href") == "http://testserver/status/"
    entries = root.findall(f"{ATOM}entry")
    assert [e.find(f"{ATOM}content").text.split("\n")[0] for e in entries] == [
        "Cause found.",
        PUBLIC_BODY,
    ]
    for entry in entries:
        for tag in ("id", "title", "updated", "content"):
            assert entry.find(f"{ATOM}{tag}").text
        assert entry.find(f"{ATOM}link").get("href").startswith("http://testserver/status/#")
    assert entries[0].find(f"{ATOM}title").text == "Payment failures · Identified"
    assert len({e.find(f"{ATOM}id").text for e in entries}) == 2


@pytest.mark.parametrize(
    ("severities", "expected"),
    [
        (["P0"], "major_outage"),
        (["P1"], "partial_outage"),
        (["P2"], "degraded_performance"),
        (["P3"], "degraded_performance"),
        (["P3", "P1"], "partial_outage"),
        (["P2", "P0", "P1"], "major_outage"),
    ],
)
def test_component_state_is_the_worst_open_public_incident(
    lead, public_service, severities, expected
):
    other = Service.objects.create(name="search", public=True)
    for severity in severities:
        incident = actions.declare_incident(
            title=f"{severity} thing",
            severity=severity,
            declared_by=lead,
            services=[public_service],
        )
        publish_update(incident, title="Trouble", status="investigating", body="Looking.", by=lead)
    # A worse incident that was never published doesn't count.
    actions.declare_incident(
        title="secret", severity="P0", declared_by=lead, services=[public_service, other]
    )
    data = get("/status.json").json()
    states = {c["name"]: c["status"] for c in data["components"]}
    assert states == {"Payments": expected, "search": "operational"}
    indicator = {
        "major_outage": "critical",
        "partial_outage": "major",
        "degraded_performance": "minor",
    }[expected]
    assert data["status"]["indicator"] == indicator


def test_resolved_incidents_go_to_the_history_for_90_days(published, lead, public_service):
    start = timezone.now()
    publish_update(published, title="Payment failures", status="resolved", body="Fixed.", by=lead)
    actions.change_status(published, to="resolved", by=lead)
    page = get("/status/").content.decode()
    assert "All Systems Operational" in page
    assert "Past Incidents" in page and "Fixed." in page
    data = get("/status.json").json()
    assert data["incidents"] == [] and data["components"][0]["status"] == "operational"
    history = get("/status/incidents.json").json()["incidents"]
    assert [i["status"] for i in history] == ["resolved"]
    assert history[0]["resolved_at"] is not None

    with time_machine.travel(start + timedelta(days=89), tick=False):
        assert "Fixed." in get("/status/").content.decode()
    with time_machine.travel(start + timedelta(days=91), tick=False):
        page = get("/status/").content.decode()
        assert "Fixed." not in page and "No incidents reported." in page
        assert get("/status/incidents.json").json()["incidents"] == []


def test_cached_hit_runs_no_query_and_answers_304(published, django_assert_num_queries):
    first = get("/status.json")
    assert first["Cache-Control"] == "public, max-age=30"
    assert first["ETag"] and first["Last-Modified"]
    for path in ("/status.json", "/status/", "/status/feed.atom"):
        get(path)  # fill
        with django_assert_num_queries(0):
            response = get(path)
        assert response.status_code == 200
    with django_assert_num_queries(0):
        not_modified = get("/status.json", HTTP_IF_NONE_MATCH=first["ETag"])
    assert not_modified.status_code == 304
    assert not_modified.content == b""


def test_publishing_and_resolving_refresh_the_cached_page(
    published, lead, django_capture_on_commit_callbacks
):
    before = get("/status.json")
    with django_capture_on_commit_callbacks(execute=True):
        publish_update(
            published,
            title="Payment failures",
            status="monitoring",
            body="Fix deployed.",
            by=lead,
        )
    after = get("/status.json", HTTP_IF_NONE_MATCH=before["ETag"])
    assert after.status_code == 200
    assert after.json()["incidents"][0]["status"] == "monitoring"
    assert after.json()["incidents"][0]["monitoring_at"] is not None
    with django_capture_on_commit_callbacks(execute=True):
        actions.change_status(published, to="resolved", by=lead)
    assert get("/status.json").json()["incidents"] == []


def test_status_page_is_public_while_the_console_needs_login(published):
    anonymous = Client()
    for path in ("/status/", "/status.json", "/status/incidents.json", "/status/feed.atom"):
        assert anonymous.get(path).status_code == 200, path
        assert anonymous.head(path).status_code == 200, path
        assert anonymous.post(path).status_code == 405, path
    for path in (
        "/incidents/",
        f"/incidents/{published.pk}/",
        "/incidents/comms-templates/",
        f"/incidents/{published.pk}/status-updates/compose/",
        "/runbooks/",
        "/probes/",
    ):
        response = anonymous.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), path


def test_the_page_works_without_javascript(published):
    page = get("/status/").content.decode()
    assert "<script" not in page
    assert "Partial System Outage" in page
    assert 'href="/status/feed.atom"' in page


def test_logged_in_users_see_the_same_public_page(published, lead):
    page = client_for(lead).get("/status/").content.decode()
    assert SECRET_NOTE not in page and "Payment failures" in page
