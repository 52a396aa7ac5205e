"""Outgoing event webhooks: the outbox is written in the change's transaction, deliveries
are signed like the escalation webhook, arrive in order at a real receiver on 127.0.0.1,
are retried with backoff, recorded and shown to leads."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from incidents import actions
from incidents.reviews.actions import add_action_item
from incidents.webhooks import delivery
from incidents.webhooks.models import EventType, WebhookDelivery, WebhookEndpoint
from tests.api.conftest import api_client_for
from tests.conftest import client_for
from tests.incidents.escalation_helpers import receiving_server

ALL = [choice.value for choice in EventType]


def verified(request: dict, secret: str) -> dict:
    """The receiver's side: check the signature over timestamp.body, then parse."""
    headers = {k.lower(): v for k, v in request["headers"].items()}
    timestamp = headers["x-console-timestamp"]
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + request["body"], hashlib.sha256)
    assert hmac.compare_digest(headers["x-console-signature"], "sha256=" + mac.hexdigest())
    assert abs(int(timestamp) - timezone.now().timestamp()) < 300
    body = json.loads(request["body"])
    assert headers["x-console-event"] == body["type"]
    return body


def endpoint_for(url: str, events=None, by=None) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(url=url, events=events or ALL, created_by=by)


def test_events_arrive_signed_in_order_with_the_apis_representation(lead, service):
    api = api_client_for(lead)
    with receiving_server() as server:
        endpoint = endpoint_for(server.url)
        created = api.post("/api/v1/incidents", {"title": "Checkout 502s", "severity": "P2"}).json()
        path = f"/api/v1/incidents/{created['id']}"
        api.post(f"{path}/acknowledge", {})
        api.post(f"{path}/severity", {"severity": "P1", "reason": "spreading"})
        api.post(f"{path}/notes", {"text": "not an event anyone subscribes to"})
        api.post(f"{path}/status", {"status": "identified"})
        api.post(f"{path}/resolve", {"note": "rolled back"})
        api.post(f"{path}/reopen", {})
        assert delivery.drain(endpoint.pk) is None
        bodies = [verified(r, endpoint.secret) for r in server.received]

    assert [b["type"] for b in bodies] == [
        "incident.declared",
        "incident.acknowledged",
        "incident.severity_changed",
        "incident.status_changed",
        "incident.resolved",
        "incident.status_changed",
    ]
    assert bodies[0]["data"]["incident"]["severity"] == "P2"
    assert bodies[2]["data"]["event"]["data"] == {"from": "P2", "to": "P1"}
    assert bodies[4]["data"]["incident"]["status"] == "resolved"
    # The last event carries exactly what the API answers now.
    assert bodies[-1]["data"]["incident"] == api.get(path).json()
    assert all(d.state == "sent" and d.response_code == 200 for d in endpoint.deliveries.all())


def test_only_subscribed_events_and_enabled_endpoints(lead):
    acks = endpoint_for("http://127.0.0.1:9/acks", events=["incident.acknowledged"])
    endpoint_for("http://127.0.0.1:9/off", events=ALL).__class__.objects.filter(
        url__endswith="/off"
    ).update(enabled=False)
    incident = actions.declare_incident(title="Search slow", severity="P3", declared_by=lead)
    assert WebhookDelivery.objects.count() == 0
    actions.acknowledge(incident, by=lead)
    assert list(WebhookDelivery.objects.values_list("endpoint", "event_type")) == [
        (acks.pk, "incident.acknowledged")
    ]


def test_a_rolled_back_change_sends_nothing(lead):
    endpoint_for("http://127.0.0.1:9/hook")
    with pytest.raises(RuntimeError), transaction.atomic():
        actions.declare_incident(title="Never happened", severity="P1", declared_by=lead)
        assert WebhookDelivery.objects.count() == 1  # written in the same transaction
        raise RuntimeError
    assert WebhookDelivery.objects.count() == 0


def test_retries_with_backoff_and_keeps_the_order(settings, lead):
    settings.WEBHOOK_RETRY_BACKOFF_SECONDS = 30
    with receiving_server(statuses=[503, 500]) as server:
        endpoint = endpoint_for(server.url)
        incident = actions.declare_incident(title="Queue backlog", severity="P2", declared_by=lead)
        actions.acknowledge(incident, by=lead)
        first, second = endpoint.deliveries.order_by("id")

        assert delivery.drain(endpoint.pk) == 30.0
        first.refresh_from_db()
        assert (first.state, first.attempts, first.response_code) == ("pending", 1, 503)
        assert first.error == "HTTP 503" and first.response_body == "error"
        # The second waits behind the first: nothing overtakes.
        assert len(server.received) == 1
        assert delivery.drain(endpoint.pk) == pytest.approx(30, abs=1)
        assert len(server.received) == 1

        with time_machine.travel(timezone.now() + timedelta(seconds=31)):
            assert delivery.drain(endpoint.pk) == 60.0  # second failure doubles the delay
        with time_machine.travel(timezone.now() + timedelta(seconds=95)):
            assert delivery.drain(endpoint.pk) is None
        types = [verified(r, endpoint.secret)["type"] for r in server.received]
    assert types == ["incident.declared"] * 3 + ["incident.acknowledged"]
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, first.attempts, second.state) == ("sent", 3, "sent")


def test_gives_up_after_the_last_attempt_and_can_send_again(settings, lead):
    settings.WEBHOOK_DELIVERY_ATTEMPTS = 2
    settings.WEBHOOK_RETRY_BACKOFF_SECONDS = 0
    with receiving_server(statuses=[500, 500]) as server:
        endpoint = endpoint_for(server.url, by=lead)
        actions.declare_incident(title="Disk filling up", severity="P2", declared_by=lead)
        delivery.drain(endpoint.pk)
        delivery.drain(endpoint.pk)
        failed = endpoint.deliveries.get()
        assert (failed.state, failed.attempts) == ("failed", 2)

        page = client_for(lead).get(f"/incidents/integrations/webhooks/{endpoint.pk}/")
        assert page.status_code == 200
        assert b"HTTP 500" in page.content and b"Send again" in page.content

        response = client_for(lead).post(
            f"/incidents/integrations/webhooks/{endpoint.pk}/deliveries/{failed.pk}/redeliver/"
        )
        assert response.status_code == 302
        delivery.drain(endpoint.pk)
        failed.refresh_from_db()
        assert failed.state == "sent" and len(server.received) == 3


def test_network_errors_are_recorded_and_retried(lead):
    endpoint = endpoint_for("http://127.0.0.1:9/nothing-listens")
    actions.declare_incident(title="Redis timeouts", severity="P1", declared_by=lead)
    assert delivery.drain(endpoint.pk) is not None
    pending = endpoint.deliveries.get()
    assert pending.state == "pending" and pending.response_code is None
    assert "ConnectError" in pending.error


def test_action_items_and_status_updates_are_events(lead, incident):
    endpoint = endpoint_for("http://127.0.0.1:9/hook", events=["action_item.created"])
    actions.change_status(incident, to="resolved", by=lead)
    review = incident.review
    add_action_item(review, by=lead, title="Add a dashboard for 502s", owner=lead)
    sent = endpoint.deliveries.get()
    assert sent.payload["type"] == "action_item.created"
    assert sent.payload["data"]["action_item"]["title"] == "Add a dashboard for 502s"
    assert sent.payload["data"]["incident"]["id"] == incident.pk


def test_lead_subscribes_and_sees_the_secret_once(lead):
    client = client_for(lead)
    response = client.post(
        "/incidents/integrations/webhooks/",
        {"url": "https://tracker.example.com/hook", "events": ["incident.declared"]},
    )
    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret.encode() in response.content
    assert endpoint.created_by == lead and endpoint.events == ["incident.declared"]
    listing = client.get("/incidents/integrations/webhooks/")
    assert listing.status_code == 200 and endpoint.secret.encode() not in listing.content

    old = endpoint.secret
    rotated = client.post(f"/incidents/integrations/webhooks/{endpoint.pk}/rotate/")
    endpoint.refresh_from_db()
    assert endpoint.secret != old and endpoint.secret.encode() in rotated.content

    client.post(f"/incidents/integrations/webhooks/{endpoint.pk}/enabled/", {"enabled": "0"})
    endpoint.refresh_from_db()
    assert endpoint.enabled is False


def test_subscribe_form_errors(lead):
    response = client_for(lead).post(
        "/incidents/integrations/webhooks/", {"url": "ftp://x.example.com", "events": []}
    )
    assert response.status_code == 422
    assert b"Choose at least one event to send." in response.content
    assert not WebhookEndpoint.objects.exists()


def test_webhook_pages_are_for_leads(responder, lead):
    endpoint = endpoint_for("https://tracker.example.com/hook")
    client = client_for(responder)
    assert client.get("/incidents/integrations/webhooks/").status_code == 403
    assert client.get(f"/incidents/integrations/webhooks/{endpoint.pk}/").status_code == 403
    assert client.post(f"/incidents/integrations/webhooks/{endpoint.pk}/rotate/").status_code == 403
    lead_client = client_for(lead)
    assert (
        lead_client.get(f"/incidents/integrations/webhooks/{endpoint.pk}/rotate/").status_code
        == 405
    )
    assert lead_client.post(f"/incidents/integrations/webhooks/{endpoint.pk}/").status_code == 405


def test_leads_manage_endpoints_through_the_api(lead, responder):
    from tests.api.conftest import api_client_for

    api = api_client_for(lead)
    created = api.post(
        "/api/v1/webhooks",
        {"url": "https://tracker.example.com/hook", "events": ["incident.resolved"]},
    )
    assert created.status_code == 201
    body = created.json()
    assert body["secret"] == WebhookEndpoint.objects.get().secret
    assert "secret" not in api.get("/api/v1/webhooks").json()[0]
    bad = api.post("/api/v1/webhooks", {"url": "https://x.example.com", "events": ["nope"]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "events"
    assert api.get(f"/api/v1/webhooks/{body['id']}/deliveries").json()["items"] == []
    assert api_client_for(responder).get("/api/v1/webhooks").status_code == 403


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_sends_what_the_commit_kicked(lead):
    """No direct calls: the commit's on_commit kick queues the drain, a Celery worker runs it."""
    from celery.contrib.testing.worker import start_worker

    from console.celery import app
    from tests.waiting import wait_for

    app.control.purge()
    with (
        receiving_server() as server,
        start_worker(
            app, pool="solo", concurrency=1, perform_ping_check=False, shutdown_timeout=10
        ),
    ):
        endpoint = endpoint_for(server.url)
        incident = actions.declare_incident(title="Payments down", severity="P0", declared_by=lead)
        actions.acknowledge(incident, by=lead)
        assert wait_for(lambda: endpoint.deliveries.filter(state="sent").count() == 2)
        types = [verified(r, endpoint.secret)["type"] for r in server.received]
    assert types == ["incident.declared", "incident.acknowledged"]
