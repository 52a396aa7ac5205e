from __future__ import annotations

import pytest

from incidents import actions
from incidents.models import Incident, PinnedNote, RoleAssignment, TimelineEvent
from tests.conftest import HTMX

Kind = TimelineEvent.Kind


def test_list_shows_open_incidents_by_severity_then_age(responder_client, responder, lead):
    p2 = actions.declare_incident(title="Slow search", severity="P2", declared_by=responder)
    p0 = actions.declare_incident(title="Checkout down", severity="P0", declared_by=responder)
    done = actions.declare_incident(title="Old thing", severity="P0", declared_by=responder)
    actions.change_status(done, to="resolved", by=lead)
    response = responder_client.get("/incidents/")
    assert response.status_code == 200
    assert list(response.context["page"].object_list) == [p0, p2]
    html = response.content.decode()
    assert html.index("Checkout down") < html.index("Slow search")
    assert "Old thing" not in html
    assert "due in" in html


def test_list_filters(responder_client, responder, lead, service):
    mine = actions.declare_incident(
        title="Mine", severity="P1", declared_by=responder, services=[service]
    )
    theirs = actions.declare_incident(title="Theirs", severity="P2", declared_by=lead)
    actions.assign_role(theirs, role="scribe", user=responder, by=lead)
    other = actions.declare_incident(title="Other", severity="P3", declared_by=lead)
    actions.change_status(other, to="resolved", by=lead)

    def listed(query: str) -> set[str]:
        response = responder_client.get(f"/incidents/?{query}")
        assert response.status_code == 200
        return {i.title for i in response.context["page"].object_list}

    assert listed("") == {"Mine", "Theirs"}
    assert listed("state=resolved") == {"Other"}
    assert listed("state=all") == {"Mine", "Theirs", "Other"}
    assert listed("severity=P1") == {"Mine"}
    assert listed(f"service={service.pk}") == {"Mine"}
    assert listed("mine=on&state=all") == {"Mine", "Theirs"}
    assert mine.pk


def test_list_htmx_returns_only_the_table(responder_client, incident):
    response = responder_client.get("/incidents/?severity=P1", **HTMX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="incident-table"')
    # The table refreshes itself with the same filters.
    assert 'hx-get="/incidents/?severity=P1" hx-trigger="every 15s"' in body
    assert "<html" not in body
    assert incident.title in body


def test_list_marks_a_breached_ack_target(responder_client, responder):
    from datetime import timedelta

    from django.utils import timezone

    actions.declare_incident(
        title="Old page",
        severity="P0",
        declared_by=responder,
        at=timezone.now() - timedelta(hours=1),
    )
    response = responder_client.get("/incidents/")
    assert "breached" in response.content.decode()


def test_declare_creates_the_incident_and_redirects(responder_client, responder, service):
    response = responder_client.post(
        "/incidents/declare/",
        {
            "title": "API 5xx above 10%",
            "severity": "P1",
            "services": [service.pk],
            "summary": "Spike after deploy",
            "customer_impact": "Some logins fail",
        },
    )
    incident = Incident.objects.get()
    assert response.status_code == 302
    assert response["Location"] == incident.get_absolute_url()
    assert incident.declared_by == responder
    assert list(incident.services.all()) == [service]
    assert incident.events.get().kind == Kind.DECLARED


def test_declare_via_htmx_redirects_the_client(responder_client):
    response = responder_client.post(
        "/incidents/declare/", {"title": "API 5xx above 10%", "severity": "P0"}, **HTMX
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == Incident.objects.get().get_absolute_url()


def test_declare_errors_are_inline_and_keep_what_was_typed(responder_client):
    response = responder_client.post(
        "/incidents/declare/",
        {"title": "db", "severity": "P9", "summary": "typed at 3am"},
        **HTMX,
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert body.lstrip().startswith("<form")
    assert "at least 5 characters" in body
    assert "Select a valid choice" in body
    assert "typed at 3am" in body
    assert not Incident.objects.exists()
    # Without JavaScript the whole page comes back, with the same errors.
    response = responder_client.post("/incidents/declare/", {"title": "", "severity": "P1"})
    assert response.status_code == 422
    assert "<html" in response.content.decode()
    assert "This field is required" in response.content.decode()


def test_detail_shows_header_roles_and_timeline(responder_client, incident, lead):
    actions.assign_role(incident, role="commander", user=lead, by=lead)
    actions.add_note(incident, text="Looking at the load balancer", by=lead)
    response = responder_client.get(incident.get_absolute_url())
    body = response.content.decode()
    assert response.status_code == 200
    assert incident.reference in body
    assert "Incident Commander" in body
    assert "Looking at the load balancer" in body
    assert 'hx-trigger="every 5s, incident-changed from:body"' in body
    # A responder sees no controls reserved for leads.
    assert "Change severity" not in body
    assert 'name="on_behalf_of"' not in body
    assert "Acknowledge</button>" in body


def test_detail_shows_lead_controls(lead_client, incident):
    body = lead_client.get(incident.get_absolute_url()).content.decode()
    assert "Change severity" in body
    assert 'name="on_behalf_of"' in body
    assert body.count('class="role-form"') == 4


def test_add_note_htmx_returns_204_and_triggers_a_refresh(responder_client, incident):
    response = responder_client.post(
        f"/incidents/{incident.pk}/notes/", {"text": "  Restarted pgbouncer  "}, **HTMX
    )
    assert response.status_code == 204
    assert response["HX-Trigger"] == "incident-changed"
    note = incident.events.get(kind=Kind.NOTE_ADDED)
    assert note.text == "Restarted pgbouncer"


def test_add_note_without_js_redirects(responder_client, incident):
    response = responder_client.post(f"/incidents/{incident.pk}/notes/", {"text": "hello"})
    assert response.status_code == 302
    assert response["Location"] == incident.get_absolute_url()


def test_note_errors_keep_the_text(responder_client, incident):
    too_long = "x" * 10_001
    response = responder_client.post(f"/incidents/{incident.pk}/notes/", {"text": too_long}, **HTMX)
    assert response.status_code == 422
    assert too_long in response.content.decode()
    assert "at most 10000 characters" in response.content.decode()
    response = responder_client.post(f"/incidents/{incident.pk}/notes/", {"text": too_long})
    assert response.status_code == 422
    assert too_long in response.content.decode()
    assert incident.events.count() == 1


def test_acknowledge_and_conflict(responder_client, incident, responder):
    response = responder_client.post(f"/incidents/{incident.pk}/acknowledge/", {}, **HTMX)
    assert response.status_code == 204
    incident.refresh_from_db()
    assert incident.acknowledged_by == responder
    response = responder_client.post(f"/incidents/{incident.pk}/acknowledge/", {}, **HTMX)
    assert response.status_code == 409
    assert "Already acknowledged" in response.content.decode()
    assert incident.events.filter(kind=Kind.ACKNOWLEDGED).count() == 1


def test_lead_acknowledges_on_behalf(lead_client, incident, responder, lead):
    response = lead_client.post(
        f"/incidents/{incident.pk}/acknowledge/", {"on_behalf_of": responder.pk}
    )
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.acknowledged_by == responder
    event = incident.events.get(kind=Kind.ACKNOWLEDGED)
    assert event.actor == lead and event.data["on_behalf_of"] == responder.username


def test_responder_changes_status_but_may_not_resolve(responder_client, incident):
    url = f"/incidents/{incident.pk}/status/"
    assert responder_client.post(url, {"status": "identified"}, **HTMX).status_code == 204
    response = responder_client.post(url, {"status": "resolved"}, **HTMX)
    assert response.status_code == 403
    assert "resolve_incident" in response.content.decode()
    incident.refresh_from_db()
    assert incident.status == "identified"


def test_bad_values_get_a_400_with_a_reason(lead_client, incident):
    response = lead_client.post(f"/incidents/{incident.pk}/status/", {"status": "on-fire"}, **HTMX)
    assert response.status_code == 400
    assert "status" in response.content.decode()
    response = lead_client.post(f"/incidents/{incident.pk}/severity/", {"severity": "P7"}, **HTMX)
    assert response.status_code == 400
    response = lead_client.post(
        f"/incidents/{incident.pk}/roles/", {"role": "king", "user": ""}, **HTMX
    )
    assert response.status_code == 400
    assert incident.events.count() == 1


def test_lead_resolves_and_reopens(lead_client, incident):
    url = f"/incidents/{incident.pk}/status/"
    assert lead_client.post(url, {"status": "resolved", "note": "fixed"}).status_code == 302
    incident.refresh_from_db()
    assert incident.status == "resolved" and incident.resolved_at
    assert lead_client.post(url, {"status": "investigating"}).status_code == 302
    assert incident.events.filter(kind=Kind.REOPENED).count() == 1


def test_lead_changes_severity(lead_client, incident):
    response = lead_client.post(
        f"/incidents/{incident.pk}/severity/", {"severity": "P0", "reason": "spreading"}, **HTMX
    )
    assert response.status_code == 204
    incident.refresh_from_db()
    assert incident.severity == "P0"
    event = incident.events.get(kind=Kind.SEVERITY_CHANGED)
    assert event.data == {"from": "P1", "to": "P0"} and event.text == "spreading"


def test_lead_assigns_hands_over_and_clears_a_role(lead_client, incident, lead, responder):
    url = f"/incidents/{incident.pk}/roles/"
    assert lead_client.post(url, {"role": "commander", "user": lead.pk}, **HTMX).status_code == 204
    assert lead_client.post(url, {"role": "commander", "user": responder.pk}).status_code == 302
    assert lead_client.post(url, {"role": "commander", "user": ""}, **HTMX).status_code == 204
    assert list(
        incident.events.filter(kind__startswith="role_").values_list("kind", flat=True)
    ) == [Kind.ROLE_ASSIGNED, Kind.ROLE_HANDED_OVER, Kind.ROLE_UNASSIGNED]
    assert not RoleAssignment.objects.filter(ended_at__isnull=True).exists()


def test_pin_and_unpin_a_note(responder_client, incident, responder):
    note = actions.add_note(incident, text="Root cause: expired cert", by=responder)
    url = f"/incidents/{incident.pk}/notes/{note.pk}/pin/"
    assert responder_client.post(url, **HTMX).status_code == 204
    body = responder_client.get(incident.get_absolute_url()).content.decode()
    assert 'id="pinned" class="pinned"' in body
    assert responder_client.post(url, {"pin": "0"}, **HTMX).status_code == 204
    assert not PinnedNote.objects.exists()
    assert responder_client.post(url, {"pin": "0"}, **HTMX).status_code == 409


def test_timeline_poll_answers_304_when_nothing_changed(
    responder_client, incident, responder, django_assert_num_queries
):
    first = incident.events.get()
    url = f"/incidents/{incident.pk}/timeline/?since={first.pk}"
    response = responder_client.get(url, **HTMX)
    assert response.status_code == 200
    etag = response["ETag"]
    assert "no-cache" in response["Cache-Control"]
    # session, user, the user's permissions (2), then one query for incident + newest event id
    with django_assert_num_queries(5):
        response = responder_client.get(url, HTTP_IF_NONE_MATCH=etag, **HTMX)
    assert response.status_code == 304
    assert response["ETag"] == etag

    actions.add_note(incident, text="New finding", by=responder)
    response = responder_client.get(url, HTTP_IF_NONE_MATCH=etag, **HTMX)
    assert response.status_code == 200
    assert response["ETag"] != etag
    body = response.content.decode()
    assert "New finding" in body
    assert body.lstrip().startswith('<section id="timeline-live"')
    panels = ("incident-header", "roles", "controls", "pinned", "checklists", "alerts", "su-live")
    panels += ("escalation", "su-entry", "changes")
    for panel in panels:
        assert f'id="{panel}"' in body
    assert body.count('hx-swap-oob="true"') == len(panels)


def test_timeline_since_must_be_a_number(responder_client, incident):
    response = responder_client.get(f"/incidents/{incident.pk}/timeline/?since=abc", **HTMX)
    assert response.status_code == 400
    assert response.content == b"since must be an event id"


def test_earlier_events_page_through_history(responder_client, incident, responder, settings):
    settings.TIMELINE_PAGE_SIZE = 10
    for n in range(25):
        actions.add_note(incident, text=f"note {n:02d}", by=responder)
    page = responder_client.get(incident.get_absolute_url())
    shown = page.context["events"]
    assert len(shown) == 10 and shown[0].text == "note 24"
    assert page.context["has_earlier"] is True
    response = responder_client.get(
        f"/incidents/{incident.pk}/timeline/?before={page.context['since']}", **HTMX
    )
    body = response.content.decode()
    assert "note 14" in body and "note 05" in body and "note 04" not in body
    assert "Show earlier events" in body
    # Without JavaScript the same link gives a whole page.
    response = responder_client.get(
        f"/incidents/{incident.pk}/timeline/?before={page.context['since']}"
    )
    assert "<html" in response.content.decode()


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_change_endpoints_refuse_other_methods(responder_client, incident, method):
    for action in ("notes", "acknowledge", "status", "severity", "roles"):
        response = getattr(responder_client, method)(f"/incidents/{incident.pk}/{action}/")
        assert response.status_code == 405, action


def test_timeline_refuses_post(responder_client, incident):
    assert responder_client.post(f"/incidents/{incident.pk}/timeline/").status_code == 405
