"""The review through the API: its JSON export once resolved, and adding action items."""

from __future__ import annotations

from incidents import actions
from incidents.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.api.conftest import api_client_for


def test_review_and_action_items(responder, lead, outsider, incident):
    api = api_client_for(responder)
    path = f"/api/v1/incidents/{incident.pk}/review"
    assert api.get(path).status_code == 404
    actions.change_status(incident, to="resolved", by=lead)
    document = api.get(path).json()
    assert document["format_version"] == 1
    assert document["incident"]["id"] in (incident.pk, str(incident.pk), incident.reference)
    WebhookEndpoint.objects.create(url="http://127.0.0.1:9/h", events=["action_item.created"])

    added = api.post(
        f"{path}/action-items",
        {"title": "Alert on 502 rate", "owner": "leo", "due_date": "2026-12-24"},
    )
    assert added.status_code == 201
    assert added.json()["owner"] == "leo" and added.json()["due_date"] == "2026-12-24"
    assert WebhookDelivery.objects.get().event_type == "action_item.created"
    refused = api.post(f"{path}/action-items", {"title": "x", "owner": "ghost"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "owner"
    assert api_client_for(outsider).get(path).status_code == 403
