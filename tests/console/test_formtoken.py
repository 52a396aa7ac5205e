"""The one-time form token: the work is done once per token, a refusal releases it."""

from __future__ import annotations

from console.models import FormSubmission
from incidents.models import Incident, TimelineEvent
from tests.conftest import HTMX

TOKEN = "tok-0123456789abcdefABCDEF"


def test_same_token_declares_once_and_the_repeat_leads_to_the_first_incident(responder_client):
    data = {"title": "Checkout returns 502", "severity": "P1", "form_token": TOKEN}
    first = responder_client.post("/incidents/declare/", data)
    assert first.status_code == 302
    again = responder_client.post("/incidents/declare/", data)
    assert again.status_code == 302 and again["Location"] == first["Location"]
    assert Incident.objects.count() == 1
    # htmx gets the same place as a client-side redirect.
    htmx = responder_client.post("/incidents/declare/", data, **HTMX)
    assert htmx.status_code == 204 and htmx["HX-Redirect"] == first["Location"]
    assert Incident.objects.count() == 1


def test_a_refused_form_releases_its_token(responder_client):
    refused = responder_client.post(
        "/incidents/declare/", {"title": "db", "severity": "P1", "form_token": TOKEN}
    )
    assert refused.status_code == 422
    assert not FormSubmission.objects.exists()
    fixed = responder_client.post(
        "/incidents/declare/", {"title": "Database down", "severity": "P1", "form_token": TOKEN}
    )
    assert fixed.status_code == 302 and Incident.objects.count() == 1


def test_malformed_token_is_a_400(responder_client):
    response = responder_client.post(
        "/incidents/declare/", {"title": "Database down", "severity": "P1", "form_token": "x"}
    )
    assert response.status_code == 400 and b"form_token" in response.content
    assert not Incident.objects.exists()


def test_tokens_are_per_user(responder_client, lead_client):
    data = {"title": "Checkout returns 502", "severity": "P1", "form_token": TOKEN}
    responder_client.post("/incidents/declare/", data)
    lead_client.post("/incidents/declare/", data)
    assert Incident.objects.count() == 2


def test_repeated_note_is_a_quiet_success(responder_client, incident):
    url = f"/incidents/{incident.pk}/notes/"
    data = {"text": "pool is full", "form_token": TOKEN}
    for _ in range(2):
        response = responder_client.post(url, data, **HTMX)
        assert response.status_code == 204 and response["HX-Trigger"] == "incident-changed"
    assert TimelineEvent.objects.filter(incident=incident, kind="note_added").count() == 1


def test_prune_forgets_old_tokens(responder_client, time_machine):
    from django.utils import timezone

    from console.formtoken import prune

    time_machine.move_to(timezone.now(), tick=False)
    responder_client.post(
        "/incidents/declare/", {"title": "Database down", "severity": "P1", "form_token": TOKEN}
    )
    assert prune() == 0
    time_machine.shift(60 * 60 * 49)
    assert prune() == 1
