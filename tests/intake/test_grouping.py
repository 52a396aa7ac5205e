"""One incident per alert, whatever the grouping: an alert already on an open incident of the
integration brings its group there, under any groupKey; intake never leaves an incident open
with no alert."""

from __future__ import annotations

import copy
import json

import pytest
from django.core.cache import cache

from console.celery import app
from incidents.intake.models import Alert, InboundEvent
from incidents.models import Incident, TimelineEvent
from tests.incidents.payloads import ALERTMANAGER
from tests.incidents.test_intake import deliver, make_integration, post, resolved
from tests.waiting import wait_for
from tests.workers import worker_processes

Kind = TimelineEvent.Kind


def under(group_key: str, payload: dict = ALERTMANAGER, **labels: str) -> dict:
    changed = copy.deepcopy(payload)
    changed["groupKey"] = group_key
    changed["groupLabels"] = labels or changed["groupLabels"]
    return changed


def no_empty_open_incidents() -> bool:
    return not Incident.objects.open().filter(alerts__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
def test_the_same_alerts_under_a_new_group_key_stay_on_their_incident(client):
    integration, token = make_integration()
    cache.clear()
    app.control.purge()
    by_alertname = under('{}:{alertname="DatabaseConnectionExhaustion"}')
    by_instance = under('{}/{route=2}:{instance=~".*"}', instance="db-1:9187")
    with worker_processes("grouping@test"):
        for payload in (by_alertname, by_instance, by_instance, resolved(by_instance, 0, 1)):
            assert post(client, integration, token, payload).status_code == 202
            # In order, as Alertmanager sends them: each processed before the next.
            assert wait_for(lambda: not InboundEvent.objects.filter(state="pending").exists(), 60)
    [incident] = Incident.objects.all()
    assert incident.alerts.count() == 2 and Alert.objects.count() == 2
    assert set(InboundEvent.objects.values_list("incident", flat=True)) == {incident.pk}
    assert set(Alert.objects.values_list("deliveries", flat=True)) == {4}
    assert incident.events.filter(kind=Kind.ALERT_FIRING).count() == 2
    assert incident.events.filter(kind=Kind.ALERTS_RESOLVED).count() == 1
    assert no_empty_open_incidents()


def test_a_new_alert_in_a_regrouped_delivery_joins_its_known_alerts_incident(db):
    integration, _ = make_integration()
    first = deliver(integration, under("route-a"))
    regrouped = under("route-b")
    newcomer = copy.deepcopy(regrouped["alerts"][0])
    newcomer["fingerprint"] = "beef0000aaaa"
    newcomer["labels"]["instance"] = "db-3:9187"
    regrouped["alerts"].append(newcomer)
    second = deliver(integration, regrouped)
    assert second.incident == first.incident and Incident.objects.count() == 1
    assert first.incident.alerts.count() == 3
    assert no_empty_open_incidents()


def test_alerts_without_fingerprints_regrouped_stay_too(db):
    integration, _ = make_integration()
    bare = under("route-a")
    for alert in bare["alerts"]:
        del alert["fingerprint"]
    first = deliver(integration, bare)
    second = deliver(integration, under("route-b", bare))
    assert second.incident == first.incident and Incident.objects.count() == 1
    assert no_empty_open_incidents()


def test_once_the_incident_is_resolved_the_alert_firing_again_opens_a_new_one(db):
    from incidents import actions
    from incidents.models import Status

    integration, _ = make_integration()
    first = deliver(integration, under("route-a"))
    actions.change_status(
        first.incident, to=Status.RESOLVED, by=actions.system_user(), note="fixed"
    )
    refire = under("route-b")
    for alert in refire["alerts"]:
        alert["startsAt"] = "2026-11-23T12:00:00.000Z"
    second = deliver(integration, refire)
    assert second.incident != first.incident and second.incident.alerts.count() == 2
    assert no_empty_open_incidents()


def test_a_group_of_another_integration_is_its_own_incident(db):
    one, _ = make_integration(name="one")
    two, _ = make_integration(name="two")
    a = deliver(one, under("g"))
    b = deliver(two, under("g"))
    assert a.incident != b.incident and json.loads(a.body)["groupKey"] == "g"
