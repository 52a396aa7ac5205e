"""Grafana alerting's webhook contact point, with the payload Grafana's documentation shows
(docs: alerting → configure notifications → webhook notifier, "Example payload")."""

from __future__ import annotations

import copy
import json

from django.test import Client

from incidents.intake.models import Alert, InboundEvent, RoutingRule
from incidents.intake.process import drain
from incidents.models import Incident
from tests.incidents.senders import create_integration

GRAFANA = {
    "receiver": "My Super Webhook",
    "status": "firing",
    "orgId": 1,
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "High memory usage", "team": "blue", "zone": "us-1"},
            "annotations": {
                "description": "The system has high memory usage",
                "runbook_url": "https://myrunbook.com/runbook/1234",
                "summary": "This alert was triggered for zone us-1",
            },
            "startsAt": "2021-10-12T09:51:03.157076+02:00",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "https://play.grafana.org/alerting/1afz29v7z/edit",
            "fingerprint": "c6eadffa33fcdf37",
            "silenceURL": "https://play.grafana.org/alerting/silence/new?alertmanager=grafana"
            "&matchers=alertname%3DT2%2Cteam%3Dblue%2Czone%3Dus-1",
            "dashboardURL": "https://play.grafana.org/d/abc",
            "panelURL": "https://play.grafana.org/d/abc?viewPanel=2",
            "values": {"B": 44.23943737541908, "C": 1},
            "valueString": "[ var='B' labels={__name__=go_memstats_alloc_bytes} value=44.2 ]",
            "imageURL": "https://play.grafana.org/render/abc.png",
        }
    ],
    "groupLabels": {"alertname": "High memory usage"},
    "commonLabels": {"alertname": "High memory usage", "team": "blue", "zone": "us-1"},
    "commonAnnotations": {
        "description": "The system has high memory usage",
        "runbook_url": "https://myrunbook.com/runbook/1234",
        "summary": "This alert was triggered for zone us-1",
    },
    "externalURL": "https://play.grafana.org/",
    "version": "1",
    "groupKey": '{}:{alertname="High memory usage"}',
    "truncatedAlerts": 0,
    "title": "[FIRING:1] High memory usage (blue us-1)",
    "state": "alerting",
    "message": "**Firing**\n\nLabels:\n - alertname = T2\n - team = blue\n - zone = us-1\n",
}


def post(client: Client, path: str, payload) -> object:
    body = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    response = client.post(path, body, content_type="application/json")
    drain(None)
    return response


def test_grafana_alert_opens_an_incident_with_its_links(client, responder_client, db):
    integration, token = create_integration("grafana", "Grafana Cloud")
    path = integration.hook_path(token)
    assert path == f"/hooks/grafana/{token}/"
    assert post(client, path, GRAFANA).status_code == 202
    incident = Incident.objects.get()
    assert incident.title == "High memory usage: This alert was triggered for zone us-1"
    alert = Alert.objects.get()
    assert alert.annotations["dashboard_url"] == "https://play.grafana.org/d/abc"
    assert alert.annotations["values"] == "B = 44.23943737541908, C = 1"
    page = responder_client.get(incident.get_absolute_url()).content.decode()
    for label, url in [
        ("Dashboard", "https://play.grafana.org/d/abc"),
        ("Panel", "https://play.grafana.org/d/abc?viewPanel=2"),
        ("Image", "https://play.grafana.org/render/abc.png"),
        ("Silence", "https://play.grafana.org/alerting/silence/new"),
    ]:
        assert f"{label} ↗" in page and url in page.replace("&amp;", "&")

    resolved = copy.deepcopy(GRAFANA)
    resolved["status"], resolved["state"] = "resolved", "ok"
    resolved["alerts"][0]["status"] = "resolved"
    resolved["alerts"][0]["endsAt"] = "2021-10-12T10:01:03+02:00"
    assert post(client, path, resolved).status_code == 202
    assert Incident.objects.count() == 1 and Alert.objects.get().status == "resolved"


def test_routing_rules_see_grafana_labels_and_state(client, db):
    RoutingRule.objects.create(
        name="team blue is P1",
        conditions=[
            {"field": "labels.team", "op": "equals", "value": "blue"},
            {"field": "state", "op": "equals", "value": "alerting"},
        ],
        severity="P1",
    )
    integration, token = create_integration("grafana", "Grafana")
    post(client, integration.hook_path(token), GRAFANA)
    assert Incident.objects.get().severity == "P1"


def test_bad_grafana_payloads_are_400_and_nothing_is_stored(client, db):
    integration, token = create_integration("grafana", "Grafana")
    path = integration.hook_path(token)
    cases = [
        ({"version": "2"}, "version"),
        ({"alerts": []}, "alerts"),
        ({"orgId": "one"}, "orgId"),
        ({"status": "exploded", "alerts": [{"labels": {}}]}, "status"),
        ({"alerts": [{**GRAFANA["alerts"][0], "dashboardURL": 5}]}, "dashboardURL"),
        ({"alerts": [{**GRAFANA["alerts"][0], "values": [1]}]}, "values"),
    ]
    for change, word in cases:
        response = post(client, path, {**GRAFANA, **change})
        assert response.status_code == 400 and word in response.json()["error"], change
    assert post(client, path, b"\x00\x01").status_code == 400
    assert not InboundEvent.objects.exists()


def test_datadog_webhook_template_on_the_generic_format(client, db):
    """The README's Datadog template, filled as Datadog fills it."""
    integration, token = create_integration("generic", "Datadog")
    path = integration.hook_path(token)
    sent = {
        "title": "[Triggered] CPU high on web-3",
        "dedup_key": "1234567",
        "status": "Triggered",
        "url": "https://app.datadoghq.com/monitors/1234567",
        "details": {"summary": "CPU above 90% for 5 min", "host": "web-3", "tags": "env:prod"},
    }
    assert post(client, path, sent).status_code == 202
    assert Alert.objects.get().status == "firing"
    assert post(client, path, {**sent, "status": "Recovered"}).status_code == 202
    assert Alert.objects.get().status == "resolved" and Incident.objects.count() == 1
    assert post(client, path, {**sent, "status": "Exploded"}).status_code == 400
