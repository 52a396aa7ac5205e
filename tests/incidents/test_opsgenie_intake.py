"""Opsgenie's Alert API at its paths: create, acknowledge and close by alias, priorities,
tags for routing, answers and refusals as Opsgenie's."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from incidents.intake.models import Alert, InboundEvent, RoutingRule
from incidents.intake.process import drain
from incidents.models import Incident
from tests.incidents.senders import create_integration


@pytest.fixture
def opsgenie(db):
    return create_integration("opsgenie", "Grafana via Opsgenie API")


def send(client: Client, key: str, path: str = "/v2/alerts", body=None, scheme="GenieKey"):
    data = body if isinstance(body, bytes | str) else json.dumps(body or {})
    response = client.post(
        path, data, content_type="application/json", HTTP_AUTHORIZATION=f"{scheme} {key}"
    )
    drain(None)
    return response


CREATE = {
    "message": "Replica lag over 30 s",
    "alias": "replica-lag-db-2",
    "description": "db-2 is 41 s behind the primary",
    "details": {"lag_seconds": "41", "host": "db-2"},
    "source": "grafana",
    "tags": ["database", "prod"],
    "priority": "P1",
    "entity": "db-2",
    "note": "Paging the database on-call",
}


def test_create_integration_prints_a_uuid_api_key(opsgenie):
    _, key = opsgenie
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", key)


def test_create_acknowledge_close_by_alias(client, opsgenie):
    integration, key = opsgenie
    response = send(client, key, body=CREATE)
    assert response.status_code == 202
    body = response.json()
    assert body["result"] == "Request will be processed"
    assert isinstance(body["took"], float) and re.fullmatch(r"[0-9a-f-]{36}", body["requestId"])
    incident = Incident.objects.get()
    assert incident.title == "Replica lag over 30 s" and incident.severity == "P0"
    alert = Alert.objects.get()
    assert alert.labels["tag:database"] == "true" and alert.labels["entity"] == "db-2"
    assert alert.annotations["lag_seconds"] == "41"

    ack = send(client, key, "/v2/alerts/replica-lag-db-2/acknowledge?identifierType=alias",
               {"user": "grafana", "note": "looking"})  # fmt: skip
    assert ack.status_code == 202
    incident.refresh_from_db()
    assert incident.acknowledged_at is not None

    close = send(client, key, "/v2/alerts/replica-lag-db-2/close?identifierType=alias",
                 {"source": "grafana"})  # fmt: skip
    assert close.status_code == 202
    incident.refresh_from_db()
    alert.refresh_from_db()
    assert alert.status == "resolved" and alert.name == "Replica lag over 30 s"
    assert incident.status == "resolved"


@pytest.mark.parametrize(
    ("priority", "severity"), [("P1", "P0"), ("P2", "P1"), ("P3", "P2"), ("P5", "P3"), (None, "P2")]
)
def test_priorities(client, opsgenie, priority, severity):
    _, key = opsgenie
    assert send(client, key, body={**CREATE, "priority": priority}).status_code == 202
    assert Incident.objects.get().severity == severity


def test_routing_rules_see_tags_and_priority(client, opsgenie):
    RoutingRule.objects.create(
        name="prod database tags",
        conditions=[
            {"field": "tag.database", "op": "exists"},
            {"field": "priority", "op": "regex", "value": "P[12]"},
        ],
        severity="P3",
    )
    _, key = opsgenie
    send(client, key, body=CREATE)
    assert Incident.objects.get().severity == "P3"


def test_unauthenticated_is_401(client, opsgenie):
    _, key = opsgenie
    for scheme, secret in [("GenieKey", "nope"), ("Bearer", key), ("GenieKey", "")]:
        response = send(client, secret, body=CREATE, scheme=scheme)
        assert response.status_code == 401
        assert response.json()["message"] == "Could not authenticate"
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"message": ""}, "message"),
        ({"message": "x" * 131}, "message"),
        ({"priority": "P9"}, "priority"),
        ({"tags": "database"}, "tags"),
        ({"details": {"n": 1}}, "details"),
    ],
)
def test_invalid_creates_are_422_with_the_field(client, opsgenie, change, field):
    _, key = opsgenie
    response = send(client, key, body={**CREATE, **change})
    assert response.status_code == 422
    assert field in response.json()["errors"]
    assert not InboundEvent.objects.exists() and not Incident.objects.exists()


def test_malformed_bodies_and_identifiers(client, opsgenie):
    _, key = opsgenie
    assert send(client, key, body=b"{oops").status_code == 400
    assert send(client, key, body=b"[]").status_code == 400
    by_id = send(client, key, "/v2/alerts/abc/close", {})
    assert by_id.status_code == 422 and "identifierType" in by_id.json()["errors"]
    response = client.get("/v2/alerts", HTTP_AUTHORIZATION=f"GenieKey {key}")
    assert response.status_code == 405
    assert not InboundEvent.objects.exists()


def test_close_of_an_unknown_alias_opens_nothing(client, opsgenie):
    _, key = opsgenie
    assert send(client, key, "/v2/alerts/ghost/close?identifierType=alias", {}).status_code == 202
    assert not Incident.objects.exists()
