"""PagerDuty's Events API (v2, v1) at its own paths: answers as PagerDuty's, severities, the
acknowledge/resolve cycle, bad input; and PagerDuty's own Python client against a live console."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.test import Client

from incidents.intake.models import Alert, InboundEvent
from incidents.intake.process import drain
from incidents.models import Incident, TimelineEvent
from tests.incidents.senders import celery_worker, create_integration
from tests.incidents.tls_front import tls_front
from tests.waiting import wait_for

Kind = TimelineEvent.Kind


def trigger(key: str, **over) -> dict:
    event = {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": "disk-db-1",
        "payload": {
            "summary": "Disk 95% full on db-1",
            "source": "db-1.prod",
            "severity": "critical",
            "timestamp": "2026-11-30T10:00:00.000+00:00",
            "component": "postgres",
            "group": "database",
            "class": "disk",
            "custom_details": {"free_gb": 4, "mount": "/var/lib/postgresql"},
        },
        "links": [{"href": "https://grafana.example.org/d/disk", "text": "Disk dashboard"}],
        "images": [{"src": "https://grafana.example.org/render/disk.png", "alt": "disk"}],
        "client": "Datadog",
    }
    event.update(over)
    return event


def send(client: Client, event: dict | bytes | str, path: str = "/v2/enqueue"):
    """Post as a sender does, then run what the worker runs (process_pending's drain)."""
    body = event if isinstance(event, bytes | str) else json.dumps(event)
    response = client.post(path, body, content_type="application/json")
    drain(None)
    return response


@pytest.fixture
def pagerduty(db):
    return create_integration("pagerduty", "Datadog via PagerDuty API")


def test_create_integration_prints_a_32_character_routing_key(pagerduty):
    integration, key = pagerduty
    assert re.fullmatch(r"[0-9a-f]{32}", key)
    assert integration.kind == "pagerduty" and integration.auto_resolve


def test_trigger_acknowledge_resolve(client, pagerduty):
    integration, key = pagerduty
    response = send(client, trigger(key))
    assert response.status_code == 202
    assert response.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "disk-db-1",
    }
    incident = Incident.objects.get()
    assert incident.title == "Disk 95% full on db-1" and incident.severity == "P1"
    alert = Alert.objects.get()
    assert alert.labels == {
        "source": "db-1.prod",
        "component": "postgres",
        "group": "database",
        "class": "disk",
        "severity": "critical",
    }
    assert alert.annotations["free_gb"] == "4"
    assert alert.source_url == "https://grafana.example.org/d/disk"
    fired = incident.events.get(kind=Kind.ALERT_FIRING)
    assert fired.data["images"][0]["src"].endswith("disk.png")

    assert send(client, trigger(key)).status_code == 202  # a repeat joins, counts
    assert Incident.objects.count() == 1 and Alert.objects.get().deliveries == 2

    ack = {"routing_key": key, "event_action": "acknowledge", "dedup_key": "disk-db-1"}
    assert send(client, ack).status_code == 202
    incident.refresh_from_db()
    assert incident.acknowledged_at is not None
    event = incident.events.get(kind=Kind.ACKNOWLEDGED)
    assert event.data["via"] == integration.name and "through" in event.text

    resolve = {"routing_key": key, "event_action": "resolve", "dedup_key": "disk-db-1"}
    assert send(client, resolve).status_code == 202
    incident.refresh_from_db()
    assert Alert.objects.get().status == "resolved" and incident.status == "resolved"


def test_a_trigger_without_dedup_key_gets_one_back(client, pagerduty):
    _, key = pagerduty
    event = trigger(key)
    del event["dedup_key"]
    dedup = send(client, event).json()["dedup_key"]
    assert re.fullmatch(r"[0-9a-f]{32}", dedup)
    ack = {"routing_key": key, "event_action": "acknowledge", "dedup_key": dedup}
    assert send(client, ack).status_code == 202
    assert Incident.objects.get().acknowledged_at is not None
    # Each trigger without a key is its own alert, as on PagerDuty.
    assert send(client, event).json()["dedup_key"] != dedup
    assert Incident.objects.count() == 2


def test_acknowledge_of_an_unknown_key_opens_nothing(client, pagerduty):
    _, key = pagerduty
    ack = {"routing_key": key, "event_action": "acknowledge", "dedup_key": "never-triggered"}
    assert send(client, ack).status_code == 202
    assert not Incident.objects.exists()


@pytest.mark.parametrize(
    ("severity", "default", "expected"),
    [
        ("critical", "P2", "P1"),
        ("critical", "P0", "P0"),
        ("error", "P2", "P2"),
        ("error", "P1", "P1"),
        ("warning", "P0", "P2"),
        ("info", "P2", "P3"),
    ],
)
def test_severity_mapping(db, client, severity, default, expected):
    _, key = create_integration("pagerduty", f"pd {severity} {default}", "--severity", default)
    event = trigger(key)
    event["payload"]["severity"] = severity
    assert send(client, event).status_code == 202
    assert Incident.objects.get().severity == expected


def test_routing_rules_match_the_payload_fields(client, pagerduty):
    from incidents.intake.models import RoutingRule

    RoutingRule.objects.create(
        name="database disks are P0",
        conditions=[
            {"field": "payload.component", "op": "equals", "value": "postgres"},
            {"field": "payload.class", "op": "regex", "value": "disk|memory"},
        ],
        severity="P0",
    )
    _, key = pagerduty
    assert send(client, trigger(key)).status_code == 202
    assert Incident.objects.get().severity == "P0"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"event_action": "explode"}, "'event_action' is missing or invalid"),
        ({"payload": {"source": "x", "severity": "critical"}}, "'payload.summary' is missing"),
        ({"payload": {"summary": "x", "severity": "critical"}}, "'payload.source' is missing"),
        ({"payload": {"summary": "x", "source": "y", "severity": "fatal"}}, "'payload.severity'"),
        ({"payload": {"summary": "x" * 1025, "source": "y", "severity": "info"}}, "longer"),
        ({"links": "https://x"}, "'links' must be a list"),
        (
            {"payload": {"summary": "x", "source": "y", "severity": "info", "timestamp": "now"}},
            "timestamp",
        ),
        ({"event_action": "resolve", "dedup_key": None}, "'dedup_key' is required"),
    ],
)
def test_invalid_events_are_answered_as_pagerduty_does(client, pagerduty, change, error):
    _, key = pagerduty
    event = {k: v for k, v in {**trigger(key), **change}.items() if v is not None}
    response = send(client, event)
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "invalid event" and body["message"] == "Event object is invalid"
    assert any(error in e for e in body["errors"]), body
    assert not InboundEvent.objects.exists() and not Incident.objects.exists()


def test_bad_keys_bodies_and_methods(client, pagerduty):
    _, key = pagerduty
    short = send(client, trigger("abc"))
    assert short.status_code == 400
    assert short.json()["errors"] == [
        "Length of 'routing_key' is incorrect (should be 32 characters)"
    ]
    assert send(client, trigger("0" * 32)).status_code == 400
    assert send(client, b"{not json").status_code == 400
    assert send(client, b"[1, 2]").status_code == 400
    assert send(client, b"\xff\xfe\x00").status_code == 400
    big = json.dumps(trigger(key, pad="x" * (1024 * 1024)))
    assert send(client, big).status_code == 413
    response = client.get("/v2/enqueue")
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert not InboundEvent.objects.exists()


def test_over_the_rate_limit_is_a_429_with_retry_after(client, pagerduty):
    integration, key = pagerduty
    from django.core.cache import cache

    cache.clear()  # counts of earlier tests' integrations (ids restart)
    integration.rate_limit_per_minute = 2
    integration.save()
    # The budget is per clock minute: standing at 20 s past one, all posts share it and the
    # next budget starts 40 s later (as the generic hook's test does).
    with time_machine.travel(datetime(2026, 3, 2, 9, 41, 20, tzinfo=UTC), tick=False):
        codes = [send(client, trigger(key)).status_code for _ in range(3)]
        response = send(client, trigger(key))
    assert codes == [202, 202, 429]
    assert response.json()["status"] == "throttle event"
    assert response["Retry-After"] == "40"


def test_v1_create_event_as_alertmanager_sends_it(client, pagerduty):
    _, key = pagerduty
    path = "/generic/2010-04-15/create_event.json"
    v1 = {
        "service_key": key,
        "event_type": "trigger",
        "incident_key": "a1b2c3",
        "description": "[FIRING:1] HighErrorRate api",
        "client": "Alertmanager",
        "client_url": "http://alertmanager:9093/#/alerts",
        "details": {"firing": "Labels: alertname=HighErrorRate", "num_firing": "1"},
    }
    response = send(client, v1, path)
    assert response.status_code == 200
    assert response.json() == {
        "status": "success",
        "message": "Event processed",
        "incident_key": "a1b2c3",
    }
    incident = Incident.objects.get()
    assert incident.title == "[FIRING:1] HighErrorRate api"
    assert send(client, {**v1, "event_type": "resolve"}, path).status_code == 200
    assert Alert.objects.get().status == "resolved"
    bad = send(client, {"service_key": key, "event_type": "trigger"}, path)
    assert bad.status_code == 400 and "description is missing or blank" in bad.json()["errors"]


@pytest.mark.django_db(transaction=True)
def test_pagerduty_python_client_trigger_acknowledge_resolve(live_server, tmp_path):
    """PagerDuty's own client (`pagerduty` on PyPI), its base URL pointed at the console
    (through TLS: the client takes only https:// URLs)."""
    import pagerduty as pd

    integration, key = create_integration("pagerduty", "pd client")
    with tls_front(live_server.thread.port, tmp_path) as (base_url, trust), celery_worker():
        events = pd.EventsApiV2Client(key, base_url=base_url, verify=trust)
        dedup = events.trigger(
            "Checkout 502s above 5%",
            "lb-1.prod",
            severity="error",
            payload={"component": "checkout", "group": "web", "class": "http"},
            custom_details={"rate": "7.5%"},
            links=[{"href": "https://grafana.example.org/d/lb", "text": "LB"}],
        )
        assert re.fullmatch(r"[0-9a-f]{32}", dedup)
        assert wait_for(lambda: Incident.objects.exists(), 30)
        incident = Incident.objects.get()
        assert incident.title == "Checkout 502s above 5%" and incident.severity == "P2"

        assert events.acknowledge(dedup) == dedup
        assert wait_for(lambda: Incident.objects.filter(acknowledged_at__isnull=False).exists(), 30)
        assert events.resolve(dedup) == dedup
        assert wait_for(lambda: Incident.objects.filter(status="resolved").exists(), 30)
        with pytest.raises(pd.HttpError) as refused:
            events.trigger("", "lb-1.prod")
        assert refused.value.response.status_code == 400
    alert = Alert.objects.get()
    assert alert.status == "resolved" and alert.labels["component"] == "checkout"
    assert not InboundEvent.objects.exclude(state="processed").exists()


def test_the_integrations_page_creates_one_and_shows_its_key_once(lead_client, client):
    response = lead_client.post(
        "/incidents/integrations/new/",
        {"name": "Datadog", "kind": "pagerduty", "default_severity": "P1",
         "rate_limit_per_minute": "600"},
    )  # fmt: skip
    assert response.status_code == 200
    page = response.content.decode()
    key = re.search(r'<pre id="integration-secret">([0-9a-f]{32})</pre>', page).group(1)
    assert "http://testserver/v2/enqueue" in page and "routing_key: " + key in page
    assert "no-store" in response["Cache-Control"]
    assert send(client, trigger(key)).status_code == 202
    assert Incident.objects.get().severity == "P1"  # critical on a P1 integration


def test_a_trigger_and_its_acknowledge_in_one_batch_are_both_processed(client, pagerduty):
    """A drain takes what arrived meanwhile as one batch: an acknowledge right after its
    trigger still finds the incident the trigger opened."""
    _, key = pagerduty
    ack = {"routing_key": key, "event_action": "acknowledge", "dedup_key": "disk-db-1"}
    for event in (trigger(key), ack):
        client.post("/v2/enqueue", json.dumps(event), content_type="application/json")
    assert InboundEvent.objects.filter(state="pending").count() == 2
    drain(None)
    incident = Incident.objects.get()
    assert incident.acknowledged_at is not None
    assert not InboundEvent.objects.filter(state="pending").exists()
