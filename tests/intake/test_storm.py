"""Storms drain in batches: repeats of a group collapse (the newest state wins, counts stay
exact), one incident per group, and the deliveries' outcomes are written in bulk."""

from __future__ import annotations

import copy
import json

import pytest
from django.core.cache import cache

from console.celery import app
from incidents.intake.models import Alert, InboundEvent
from incidents.intake.process import drain
from incidents.models import Incident, TimelineEvent
from tests.incidents.payloads import ALERTMANAGER
from tests.incidents.test_intake import make_integration, post
from tests.waiting import wait_for
from tests.workers import worker_processes

Kind = TimelineEvent.Kind


def group_delivery(group: int, resolve_second: bool = False) -> dict:
    body = copy.deepcopy(ALERTMANAGER)
    body["groupKey"] = f"storm-{group}"
    for index, alert in enumerate(body["alerts"]):
        alert["fingerprint"] = f"storm{group}-{index}"
    if resolve_second:
        body["alerts"][1]["status"] = "resolved"
    return body


def store(integration, payload: dict) -> None:
    InboundEvent.objects.receive(integration, json.dumps(payload))


def test_a_batch_collapses_repeats_newest_state_wins_counts_exact(
    db, django_assert_max_num_queries
):
    integration, _ = make_integration()
    for n in range(20):
        store(integration, group_delivery(n))
    assert drain(integration.pk) == 20  # 20 incidents open
    for n in range(60):  # 20 groups × 3 again, the last of each resolving its second alert
        store(integration, group_delivery(n % 20, resolve_second=n >= 40))
    # Per group, not per delivery: its rule and alerts, the incident it joins, the resolved
    # alert's timeline event; the deliveries' outcomes in one UPDATE.
    with django_assert_max_num_queries(20 * 12 + 5):
        assert drain(integration.pk) == 60
    assert set(InboundEvent.objects.values_list("state", flat=True)) == {"processed"}
    assert Incident.objects.count() == 20
    for incident in Incident.objects.all():
        first, second = incident.alerts.order_by("fingerprint")
        assert first.status == "firing" and second.status == "resolved"
        assert first.deliveries == 4 and second.deliveries == 4
        assert incident.inbound_events.count() == 4
    assert not Incident.objects.open().filter(alerts__isnull=True).exists()


def test_an_alert_that_fired_and_resolved_within_a_batch_still_has_its_incident(db):
    integration, _ = make_integration()
    store(integration, group_delivery(1))
    resolved = group_delivery(1)
    for alert in resolved["alerts"]:
        alert["status"] = "resolved"
    resolved["status"] = "resolved"
    store(integration, resolved)
    assert drain(integration.pk) == 2
    [incident] = Incident.objects.all()
    assert incident.alerts.count() == 2
    assert set(incident.alerts.values_list("status", flat=True)) == {"resolved"}
    assert incident.events.filter(kind=Kind.ALERTS_RESOLVED).exists()


def test_a_bad_delivery_in_a_batch_fails_alone(db):
    from incidents.intake.models import RoutingRule

    integration, _ = make_integration()
    other, _ = make_integration(name="other")
    RoutingRule.objects.create(
        name="broken only for other",
        integration=other,
        conditions=[{"field": "labels.job", "op": "regex", "value": "(x"}],
    )
    store(integration, group_delivery(1))
    store(other, group_delivery(2))
    store(integration, group_delivery(3))
    assert drain(None) == 3
    states = dict(InboundEvent.objects.values_list("integration__name", "state").distinct())
    assert states == {"alertmanager hook": "processed", "other": "pending"}
    assert InboundEvent.objects.get(integration=other).attempts == 1
    assert Incident.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_storm_through_the_hook_drains_to_one_incident_per_group(client):
    integration, token = make_integration(rate_limit_per_minute=100_000)
    cache.clear()
    app.control.purge()
    with worker_processes("storm@test"):
        for n in range(400):
            response = post(client, integration, token, group_delivery(n % 20, n >= 380))
            assert response.status_code == 202
        assert wait_for(lambda: not InboundEvent.objects.filter(state="pending").exists(), 120)
    assert InboundEvent.objects.filter(state="processed").count() == 400
    assert Incident.objects.count() == 20
    assert set(Alert.objects.values_list("deliveries", flat=True)) == {20}
    assert Alert.objects.filter(status="resolved").count() == 20
    assert not Incident.objects.open().filter(alerts__isnull=True).exists()
    assert not InboundEvent.objects.filter(incident__isnull=True).exists()
