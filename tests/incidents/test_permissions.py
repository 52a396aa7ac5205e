"""The permission matrix, URL by URL, for every kind of user."""

from __future__ import annotations

import pytest
from django.test import Client

from incidents import actions
from incidents.models import Service
from tests.conftest import HTMX, client_for

ANON, OUTSIDER, RESPONDER, LEAD, MANAGER = "anon", "outsider", "responder", "lead", "manager"


def build_clients(request) -> dict[str, Client]:
    clients = {ANON: Client()}
    for name in (OUTSIDER, RESPONDER, LEAD, MANAGER):
        clients[name] = client_for(request.getfixturevalue(name))
    return clients


# (method, path template, data, expected status per user kind)
# Reading and responder actions: anyone in a group. Leadership actions: Lead and Manager.
READ = {OUTSIDER: 403, RESPONDER: 200, LEAD: 200, MANAGER: 200}
RESPOND = {OUTSIDER: 403, RESPONDER: 204, LEAD: 204, MANAGER: 204}
LEADS_ONLY = {OUTSIDER: 403, RESPONDER: 403, LEAD: 204, MANAGER: 204}
LEAD_PAGES = {OUTSIDER: 403, RESPONDER: 403, LEAD: 200, MANAGER: 200}
MANAGERS_READ = {OUTSIDER: 403, RESPONDER: 403, LEAD: 403, MANAGER: 200}
LEADS_CHANGE = {OUTSIDER: 403, RESPONDER: 403, LEAD: 302, MANAGER: 302}
MATRIX = [
    ("get", "/incidents/", None, READ),
    ("get", "/incidents/declare/", None, READ),
    ("get", "/incidents/{pk}/", None, READ),
    ("get", "/incidents/{pk}/timeline/?since=0", None, READ),
    ("get", "/incidents/{pk}/timeline/?before=999999", None, READ),
    ("post", "/incidents/{pk}/notes/", {"text": "checked the LB"}, RESPOND),
    ("post", "/incidents/{pk}/notes/{note}/pin/", {}, RESPOND),
    ("post", "/incidents/{pk}/status/", {"status": "identified"}, RESPOND),
    ("post", "/incidents/{pk}/acknowledge/", {}, RESPOND),
    ("post", "/incidents/{pk}/severity/", {"severity": "P0"}, LEADS_ONLY),
    ("post", "/incidents/{pk}/roles/", {"role": "scribe", "user": "{lead_pk}"}, LEADS_ONLY),
    ("post", "/incidents/{pk}/take-command/", {}, RESPOND),
    ("post", "/incidents/{pk}/status/", {"status": "resolved"}, LEADS_ONLY),
    # Status updates: the communicator (none here) or whoever may publish for any incident.
    ("get", "/incidents/{pk}/status-updates/compose/", None, LEAD_PAGES),
    ("get", "/incidents/comms-templates/", None, READ),
    ("get", "/incidents/comms-templates/new/", None, LEAD_PAGES),
    # Status page components: everyone reads, leads change (no timeline event: no incident).
    ("get", "/incidents/status-page/components/", None, READ),
    ("post", "/incidents/status-page/components/{service}/", {"public_name": "Pay"}, LEADS_CHANGE),
    ("post", "/incidents/status-page/components/{service}/public/", {"public": "1"}, LEADS_CHANGE),
    (
        "post",
        "/incidents/status-page/components/{service}/move/",
        {"direction": "up"},
        LEADS_CHANGE,
    ),
    # Post-incident reviews (review pages themselves: tests/incidents/test_review_views.py).
    ("get", "/incidents/reviews/", None, READ),
    ("get", "/incidents/reviews/action-items/", None, READ),
    ("get", "/incidents/metrics/", None, MANAGERS_READ),
    ("get", "/incidents/reviews/export/", None, MANAGERS_READ),
    # Escalation: page the next level now (writes ESCALATION_PAGED).
    ("post", "/incidents/{pk}/escalate/", {}, LEADS_ONLY),
]


@pytest.mark.parametrize(
    ("method", "path", "data", "expected"),
    MATRIX,
    ids=[f"{m} {p} {d or ''}" for m, p, d, _ in MATRIX],
)
@pytest.mark.parametrize("who", [ANON, OUTSIDER, RESPONDER, LEAD, MANAGER])
def test_permission_matrix(request, responder, lead, who, method, path, data, expected):
    incident = actions.declare_incident(title="Checkout down", severity="P1", declared_by=responder)
    note = actions.add_note(incident, text="first look", by=responder)
    service = Service.objects.create(name="checkout", public=True, position=1)
    url = path.format(pk=incident.pk, note=note.pk, service=service.pk)
    if data:
        data = {k: v.format(lead_pk=lead.pk) for k, v in data.items()}
    # Resolving also opens the post-incident review, and a severity change or a resolution
    # re-applies or stops the escalation ladder (tests/incidents/test_escalation.py), each
    # with an event of its own: count the action's events.
    own = incident.events.exclude(
        kind__in=["review_opened", "escalation_policy_applied", "escalation_stopped"]
    )
    events_before = own.count()
    client = build_clients(request)[who]

    response = getattr(client, method)(url, data or {}, **HTMX)

    if who == ANON:
        assert response.status_code == 302
        assert response["Location"].startswith("/login/?next=")
    else:
        assert response.status_code == expected[who], response.content[:200]
    changed = own.count() - events_before
    if method == "post":
        assert changed == (1 if response.status_code == 204 else 0)


def test_declare_post_is_refused_to_outsiders_and_anonymous(outsider):
    data = {"title": "Checkout down", "severity": "P1"}
    response = Client().post("/incidents/declare/", data)
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    response = client_for(outsider).post("/incidents/declare/", data)
    assert response.status_code == 403
    assert "Your role does not allow this" in response.content.decode()


def test_htmx_403_is_a_plain_message(outsider, incident):
    response = client_for(outsider).post(f"/incidents/{incident.pk}/notes/", {"text": "x"}, **HTMX)
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/plain")


def test_responder_cannot_acknowledge_for_someone_else(responder_client, incident, lead):
    response = responder_client.post(
        f"/incidents/{incident.pk}/acknowledge/", {"on_behalf_of": lead.pk}, **HTMX
    )
    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.acknowledged_at is None


def test_missing_incident_is_404(responder_client):
    assert responder_client.get("/incidents/424242/").status_code == 404
    assert responder_client.post("/incidents/424242/notes/", {"text": "x"}).status_code == 404


def test_login_page_and_healthz_are_public(db):
    client = Client()
    assert client.get("/login/").status_code == 200
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
