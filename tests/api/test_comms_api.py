"""Status updates through the API (the communicator or a lead publishes; the public page and
the webhooks hear of it) and who is on call now."""

from __future__ import annotations

from datetime import date, time

from incidents import actions
from incidents.escalation.models import OnCallRotation, RotationMember
from incidents.models import Service
from incidents.statuspage.models import StatusUpdate
from incidents.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.api.conftest import api_client_for

BODY = {"title": "Card payments failing", "status": "identified", "body": "We found the cause."}


def test_only_the_communicator_or_a_lead_publishes(responder, lead, incident):
    public = Service.objects.create(name="Checkout", public=True)
    path = f"/api/v1/incidents/{incident.pk}/status-updates"
    refused = api_client_for(responder).post(path, BODY)
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "Only the incident's communicator or a lead can publish status updates."
    )
    actions.assign_role(incident, role="communicator", user=responder, by=lead)
    endpoint = WebhookEndpoint.objects.create(
        url="http://127.0.0.1:9/hook", events=["status_update.published"]
    )
    published = api_client_for(responder).post(path, {**BODY, "components": [public.pk]})
    assert published.status_code == 201
    body = published.json()
    assert body["components"] == [{"id": public.pk, "name": "Checkout"}]
    assert body["published_by"] == "rita"
    assert StatusUpdate.objects.get().body == "We found the cause."
    assert incident.events.filter(kind="update_published").exists()
    assert WebhookDelivery.objects.get(endpoint=endpoint).event_type == "status_update.published"
    listing = api_client_for(lead).get(path).json()
    assert [u["id"] for u in listing] == [body["id"]]

    empty = api_client_for(lead).post(path, {**BODY, "body": ""})
    assert empty.status_code == 422
    assert empty.json()["detail"] == "Write the message stakeholders will read."


def test_who_is_on_call_now(responder, lead, outsider):
    rotation = OnCallRotation.objects.create(
        name="Primary",
        period="weekly",
        handoff_time=time(9, 0),
        timezone="Europe/London",
        starts_on=date(2026, 3, 2),
    )
    RotationMember.objects.create(rotation=rotation, user=responder, position=0)
    answer = api_client_for(lead).get("/api/v1/oncall")
    assert answer.status_code == 200
    assert answer.json()[0]["rotation"] == "Primary"
    assert answer.json()[0]["on_call"] == "rita"
    assert api_client_for(outsider).get("/api/v1/oncall").status_code == 403
