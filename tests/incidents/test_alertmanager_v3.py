"""Alertmanager as it really is in the wild: version 3 payloads (numeric groupKey, alerts
without status or fingerprint) and truncated groups (max_alerts)."""

from __future__ import annotations

import json

from django.test import Client

from incidents.intake.models import Alert, InboundEvent
from incidents.intake.process import drain
from incidents.models import Incident, TimelineEvent
from tests.incidents.senders import create_integration

# Alertmanager 0.15's webhook (notify/impl.go of that release): version "3", groupKey a
# uint64, no per-alert status or fingerprint.
V3 = {
    "receiver": "team-db",
    "status": "firing",
    "alerts": [
        {
            "labels": {"alertname": "DiskFull", "instance": "db-1:9100", "severity": "critical"},
            "annotations": {"summary": "Disk almost full"},
            "startsAt": "2026-11-30T09:58:12.123456789Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=disk",
        },
        {
            "labels": {"alertname": "DiskFull", "instance": "db-2:9100", "severity": "critical"},
            "annotations": {"summary": "Disk almost full"},
            "startsAt": "2026-11-30T09:58:42.5Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=disk",
        },
    ],
    "groupLabels": {"alertname": "DiskFull"},
    "commonLabels": {"alertname": "DiskFull", "severity": "critical"},
    "commonAnnotations": {"summary": "Disk almost full"},
    "externalURL": "http://alertmanager:9093",
    "version": "3",
    "groupKey": 15046532133418391711,
}


def post(client: Client, path: str, payload: dict | str):
    body = payload if isinstance(payload, str) else json.dumps(payload)
    response = client.post(path, body, content_type="application/json")
    drain(None)
    return response


def test_version_3_with_a_numeric_group_key_and_no_alert_status(client, db):
    integration, token = create_integration("alertmanager", "legacy prometheus")
    path = integration.hook_path(token)
    assert post(client, path, V3).status_code == 202
    incident = Incident.objects.get()
    assert incident.title == "DiskFull: Disk almost full" and incident.severity == "P0"
    assert Alert.objects.filter(status="firing").count() == 2
    # The same group resolved: status only on the group, as version 3 sends it.
    resolved = {**V3, "status": "resolved"}
    resolved["alerts"] = [{**a, "endsAt": "2026-11-30T10:20:00Z"} for a in V3["alerts"]]
    assert post(client, path, resolved).status_code == 202
    assert Incident.objects.count() == 1
    assert not Alert.objects.filter(status="firing").exists()
    assert incident.events.filter(kind=TimelineEvent.Kind.ALERTS_RESOLVED).exists()


def test_a_group_key_that_is_neither_string_nor_number_is_refused(client, db):
    integration, token = create_integration("alertmanager", "bad")
    for key in ([1], {"a": 1}, True):
        response = post(client, integration.hook_path(token), {**V3, "groupKey": key})
        assert response.status_code == 400 and "groupKey" in response.json()["error"]
    no_status = {**V3}
    del no_status["status"]
    response = post(client, integration.hook_path(token), no_status)
    assert response.status_code == 400 and "status" in response.json()["error"]
    assert not InboundEvent.objects.exists()


def test_truncated_alerts_are_shown(client, db):
    integration, token = create_integration("alertmanager", "capped")
    payload = {**V3, "version": "4", "groupKey": '{}:{alertname="DiskFull"}', "truncatedAlerts": 7}
    assert post(client, integration.hook_path(token), payload).status_code == 202
    incident = Incident.objects.get()
    assert "(7 more alerts not sent by Alertmanager)" in incident.summary
    fired = incident.events.filter(kind=TimelineEvent.Kind.ALERT_FIRING).order_by("pk").first()
    assert fired.text.endswith("(7 more alerts not sent by Alertmanager)")
    assert fired.data["truncated_alerts"] == 7
    bad = post(client, integration.hook_path(token), {**payload, "truncatedAlerts": "many"})
    assert bad.status_code == 400 and "truncatedAlerts" in bad.json()["error"]
