"""/api/v1/incidents and its timeline: the permission matrix, the changes and their timeline
events, problem documents, cursors, ETags, Idempotency-Key, the per-token rate limit and
query counts at two sizes."""

from __future__ import annotations

import pytest
import time_machine
from django.contrib.auth.models import User
from django.utils import timezone

from incidents import actions
from incidents.models import Incident, TimelineEvent
from tests.api.conftest import ROLES, api_client_for, expected_status

# (method, path, body, expected status by role). {id} is a fresh P1 incident declared by the
# responder. read_only: the lead's permissions through a read-only token.
MATRIX = [
    ("GET", "/api/v1/incidents", None, dict(outsider=403, responder=200, lead=200)),
    (
        "POST",
        "/api/v1/incidents",
        {"title": "Queue backlog growing", "severity": "P2"},
        dict(outsider=403, responder=201, lead=201),
    ),
    ("GET", "/api/v1/incidents/{id}", None, dict(outsider=403, responder=200, lead=200)),
    (
        "POST",
        "/api/v1/incidents/{id}/acknowledge",
        {},
        dict(outsider=403, responder=200, lead=200),
    ),
    (
        "POST",
        "/api/v1/incidents/{id}/acknowledge",
        {"on_behalf_of": "mia"},
        dict(outsider=403, responder=403, lead=200),
    ),
    (
        "POST",
        "/api/v1/incidents/{id}/status",
        {"status": "identified", "note": "found it"},
        dict(outsider=403, responder=200, lead=200),
    ),
    (
        "POST",
        "/api/v1/incidents/{id}/status",
        {"status": "resolved"},
        dict(outsider=403, responder=403, lead=200),
    ),
    ("POST", "/api/v1/incidents/{id}/resolve", {}, dict(outsider=403, responder=403, lead=200)),
    ("POST", "/api/v1/incidents/{id}/reopen", {}, dict(outsider=403, responder=403, lead=409)),
    (
        "POST",
        "/api/v1/incidents/{id}/severity",
        {"severity": "P0", "reason": "spreading"},
        dict(outsider=403, responder=403, lead=200),
    ),
    (
        "POST",
        "/api/v1/incidents/{id}/roles",
        {"role": "commander", "user": "rita"},
        dict(outsider=403, responder=403, lead=200),
    ),
    (
        "POST",
        "/api/v1/incidents/{id}/notes",
        {"text": "Rolled back deploy 41"},
        dict(outsider=403, responder=201, lead=201),
    ),
    ("GET", "/api/v1/incidents/{id}/timeline", None, dict(outsider=403, responder=200, lead=200)),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "method,path,body,by_role", MATRIX, ids=[f"{m} {p} {b}" for m, p, b, _ in MATRIX]
)
def test_permission_matrix(clients, incident, role, method, path, body, by_role):
    events_before = TimelineEvent.objects.count()
    response = clients[role].request(method, path.format(id=incident.pk), body)
    expected = expected_status(method, role, by_role)
    assert response.status_code == expected, response.content
    if expected >= 400:
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["status"] == expected
        if method == "POST":
            assert TimelineEvent.objects.count() == events_before
    elif method == "POST":
        assert TimelineEvent.objects.count() > events_before


def test_wrong_method_is_405(lead_api, incident):
    response = lead_api.client.delete(f"/api/v1/incidents/{incident.pk}", headers=lead_api.headers)
    assert response.status_code == 405
    assert lead_api.get(f"/api/v1/incidents/{incident.pk}/resolve").status_code == 405


def test_declare_read_note_acknowledge_and_read_the_timeline(lead_api, service):
    response = lead_api.post(
        "/api/v1/incidents",
        {"title": "Checkout 502s in EU", "severity": "P1", "services": [service.pk]},
    )
    assert response.status_code == 201
    created = response.json()
    assert created["reference"] == f"INC-{created['id']:04d}"
    assert created["services"] == [{"id": service.pk, "name": "Payments"}]
    assert created["declared_by"] == "leo" and created["status"] == "investigating"

    incident_id = created["id"]
    assert lead_api.get(f"/api/v1/incidents/{incident_id}").json()["title"] == "Checkout 502s in EU"
    note = lead_api.post(f"/api/v1/incidents/{incident_id}/notes", {"text": "Looking at LB"})
    assert note.status_code == 201 and note.json()["kind"] == "note_added"
    ack = lead_api.post(f"/api/v1/incidents/{incident_id}/acknowledge", {})
    assert ack.json()["acknowledged_by"] == "leo"

    timeline = lead_api.get(f"/api/v1/incidents/{incident_id}/timeline").json()
    assert [e["kind"] for e in timeline["items"]] == ["declared", "note_added", "acknowledged"]
    assert timeline["items"][1]["text"] == "Looking at LB"
    assert timeline["items"][1]["actor"] == "leo"
    assert Incident.objects.get(pk=incident_id).acknowledged_at is not None


def test_refusals_carry_the_pages_messages(lead_api, incident):
    lead_api.post(f"/api/v1/incidents/{incident.pk}/acknowledge", {})
    again = lead_api.post(f"/api/v1/incidents/{incident.pk}/acknowledge", {})
    assert again.status_code == 409
    assert again.json()["detail"] == "Already acknowledged by leo."
    same = lead_api.post(f"/api/v1/incidents/{incident.pk}/severity", {"severity": "P1"})
    assert same.status_code == 409 and same.json()["detail"] == "The incident is already P1."

    short = lead_api.post("/api/v1/incidents", {"title": "  db ", "severity": "P1"})
    assert short.status_code == 422
    assert short.json()["errors"] == [
        {"field": "title", "message": "Give the incident a title of at least 5 characters."}
    ]
    empty = lead_api.post(f"/api/v1/incidents/{incident.pk}/notes", {"text": "   "})
    assert empty.status_code == 422
    assert empty.json()["detail"] == "Write something before adding the note."

    typed = lead_api.post("/api/v1/incidents", {"title": "Valid title", "severity": "P9"})
    assert typed.status_code == 422 and typed.json()["errors"][0]["field"] == "severity"

    nobody = lead_api.post(
        f"/api/v1/incidents/{incident.pk}/roles", {"role": "scribe", "user": "ghost"}
    )
    assert nobody.status_code == 422 and nobody.json()["errors"][0]["field"] == "user"

    missing = lead_api.get("/api/v1/incidents/999999")
    assert missing.status_code == 404
    assert missing["Content-Type"] == "application/problem+json"


def test_resolve_and_reopen(lead_api, incident):
    resolved = lead_api.post(f"/api/v1/incidents/{incident.pk}/resolve", {"note": "fixed"})
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    assert incident.events.filter(kind="resolved", text="fixed").exists()
    again = lead_api.post(f"/api/v1/incidents/{incident.pk}/resolve", {})
    assert (
        again.status_code == 409 and again.json()["detail"] == "The incident is already resolved."
    )
    reopened = lead_api.post(f"/api/v1/incidents/{incident.pk}/reopen", {"status": "identified"})
    assert reopened.json()["status"] == "identified"
    assert incident.events.filter(kind="reopened").exists()


def test_roles_assign_and_unassign(lead_api, incident):
    body = lead_api.post(
        f"/api/v1/incidents/{incident.pk}/roles", {"role": "commander", "user": "leo"}
    ).json()
    assert [(r["role"], r["user"]) for r in body["roles"]] == [("commander", "leo")]
    body = lead_api.post(
        f"/api/v1/incidents/{incident.pk}/roles", {"role": "commander", "user": None}
    ).json()
    assert body["roles"] == []
    assert incident.events.filter(kind="role_unassigned").exists()


def test_list_filters_and_cursor(lead_api, lead, service):
    made = [
        actions.declare_incident(title=f"Incident number {n}", severity="P2", declared_by=lead)
        for n in range(5)
    ]
    made[0].services.set([service])
    actions.change_status(made[1], to="resolved", by=lead)

    page = lead_api.get("/api/v1/incidents", limit=2).json()
    assert [i["id"] for i in page["items"]] == [made[4].pk, made[3].pk]
    page2 = lead_api.get("/api/v1/incidents", limit=2, cursor=page["next_cursor"]).json()
    assert [i["id"] for i in page2["items"]] == [made[2].pk, made[0].pk]
    assert page2["next_cursor"] is None

    resolved = lead_api.get("/api/v1/incidents", state="resolved").json()["items"]
    assert [i["id"] for i in resolved] == [made[1].pk]
    assert len(lead_api.get("/api/v1/incidents", state="all").json()["items"]) == 5
    by_service = lead_api.get("/api/v1/incidents", service=service.pk).json()["items"]
    assert [i["id"] for i in by_service] == [made[0].pk]
    assert lead_api.get("/api/v1/incidents", severity="P0").json()["items"] == []

    bad = lead_api.get("/api/v1/incidents", cursor="nonsense!")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"


def test_timeline_since_and_cursor(lead_api, lead, incident):
    for n in range(4):
        actions.add_note(incident, text=f"note {n}", by=lead)
    events = list(incident.events.order_by("id"))
    page = lead_api.get(f"/api/v1/incidents/{incident.pk}/timeline", limit=2).json()
    assert [e["id"] for e in page["items"]] == [events[0].pk, events[1].pk]
    rest = lead_api.get(
        f"/api/v1/incidents/{incident.pk}/timeline", cursor=page["next_cursor"]
    ).json()
    assert [e["id"] for e in rest["items"]] == [e.pk for e in events[2:]]
    since = lead_api.get(f"/api/v1/incidents/{incident.pk}/timeline", since=events[3].pk).json()
    assert [e["text"] for e in since["items"]] == ["note 3"]


def test_etag_answers_304_until_something_changes(lead_api, lead, incident):
    path = f"/api/v1/incidents/{incident.pk}/timeline"
    first = lead_api.get(path)
    etag = first["ETag"]
    assert etag and "no-cache" in first["Cache-Control"]
    unchanged = lead_api.get(path, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged["ETag"] == etag
    actions.add_note(incident, text="new", by=lead)
    changed = lead_api.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed["ETag"] != etag


def test_idempotency_key_creates_once(lead_api, incident):
    body = {"title": "Search is slow", "severity": "P3"}
    key = {"Idempotency-Key": "declare-7f3a"}
    first = lead_api.post("/api/v1/incidents", body, headers=key)
    replay = lead_api.post("/api/v1/incidents", body, headers=key)
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert replay["Idempotent-Replayed"] == "true"
    assert Incident.objects.filter(title="Search is slow").count() == 1

    other = lead_api.post("/api/v1/incidents", {**body, "title": "Another one"}, headers=key)
    assert other.status_code == 422
    assert other.json()["detail"] == "This Idempotency-Key was used for a different request."

    note_key = {"Idempotency-Key": "note-1"}
    path = f"/api/v1/incidents/{incident.pk}/notes"
    lead_api.post(path, {"text": "once"}, headers=note_key)
    lead_api.post(path, {"text": "once"}, headers=note_key)
    assert incident.events.filter(kind="note_added", text="once").count() == 1


def test_keys_belong_to_their_user(lead_api, responder_api):
    body = {"title": "Search is slow", "severity": "P3"}
    key = {"Idempotency-Key": "shared"}
    lead_api.post("/api/v1/incidents", body, headers=key)
    responder_api.post("/api/v1/incidents", body, headers=key)
    assert Incident.objects.filter(title="Search is slow").count() == 2


def test_rate_limit_per_token_with_retry_after(settings, responder, lead):
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    limited, other = api_client_for(responder), api_client_for(lead)
    # 20 s past a minute: the window has 40 s left.
    start = timezone.now().replace(second=20, microsecond=0)
    with time_machine.travel(start, tick=False):
        for _ in range(3):
            assert limited.get("/api/v1/incidents").status_code == 200
        refused = limited.get("/api/v1/incidents")
        assert refused.status_code == 429
        assert refused["Retry-After"] == "40"
        assert refused.json()["status"] == 429
        assert other.get("/api/v1/incidents").status_code == 200


def _many(lead: User, count: int, service) -> None:
    for n in range(count):
        incident = actions.declare_incident(
            title=f"Incident {n:03d}", severity="P2", declared_by=lead, services=[service]
        )
        actions.assign_role(incident, role="commander", user=lead, by=lead)
        actions.add_note(incident, text="note", by=lead)


@pytest.mark.parametrize("count", [2, 20])
def test_list_queries_do_not_grow(django_assert_num_queries, lead_api, lead, service, count):
    _many(lead, count, service)
    # token + user, last use (first request), the user's permissions (2), incidents,
    # their services, their current roles with users.
    with django_assert_num_queries(7):
        response = lead_api.get("/api/v1/incidents", limit=100)
    assert len(response.json()["items"]) == count


@pytest.mark.parametrize("count", [5, 200])
def test_timeline_queries_do_not_grow(django_assert_num_queries, lead_api, lead, incident, count):
    for n in range(count):
        actions.add_note(incident, text=f"note {n}", by=lead)
    path = f"/api/v1/incidents/{incident.pk}/timeline"
    # token + user, last use, permissions (2), the incident, its newest event id, its events
    # with actors.
    with django_assert_num_queries(7):
        response = lead_api.get(path, limit=1000)
    assert len(response.json()["items"]) == count + 1
    # Unchanged: token + user, permissions (2), the incident, the newest id; no events read.
    with django_assert_num_queries(5):
        again = lead_api.get(path, limit=1000, headers={"If-None-Match": response["ETag"]})
    assert again.status_code == 304
