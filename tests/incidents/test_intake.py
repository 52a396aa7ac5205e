"""Alert intake: the hook's answers, Alertmanager and generic deliveries onto incidents,
routing rules, idempotent processing and deduplication under concurrency."""

from __future__ import annotations

import copy
import json
import threading
from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connections
from django.utils import timezone

from incidents.intake.models import Alert, InboundEvent, Integration, RoutingRule
from incidents.intake.process import kick_key, process_event
from incidents.models import Incident, Service, TimelineEvent
from runbooks.importer import import_runbook
from tests.incidents.payloads import ALERTMANAGER

Kind = TimelineEvent.Kind

RUNBOOK = (
    "# Database runbook\n\n## Critical Incidents (P0)\n\n"
    "### Database Connection Exhaustion\n\n**Symptoms**:\n- Connection errors\n\n"
    "**Immediate Response**:\n1. Count connections\n2. Kill idle sessions\n"
)


def make_integration(kind: str = "alertmanager", **fields) -> tuple[Integration, str]:
    integration = Integration(kind=kind, name=fields.pop("name", f"{kind} hook"), **fields)
    token = integration.new_token()
    integration.save()
    return integration, token


def post(client, integration, token, payload, **extra):
    body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
    return client.post(
        f"/hooks/{integration.kind}/{token}/", body, content_type="application/json", **extra
    )


def deliver(integration: Integration, payload: dict) -> InboundEvent:
    """Store a delivery as the hook does and process it, as the worker does."""
    event = InboundEvent.objects.create(integration=integration, body=json.dumps(payload))
    process_event(event.pk)
    event.refresh_from_db()
    return event


def resolved(payload: dict, *indexes: int) -> dict:
    changed = copy.deepcopy(payload)
    for index in indexes:
        changed["alerts"][index]["status"] = "resolved"
        changed["alerts"][index]["endsAt"] = "2026-11-23T10:30:00.000Z"
    if all(a["status"] == "resolved" for a in changed["alerts"]):
        changed["status"] = "resolved"
    return changed


# -- the hook's answers ------------------------------------------------------------------------
def test_a_valid_delivery_is_stored_and_accepted(client, db):
    integration, token = make_integration()
    response = post(client, integration, token, ALERTMANAGER)
    assert response.status_code == 202
    assert response.json()["status"] in ("queued", "processed")
    event = InboundEvent.objects.get()
    assert json.loads(event.body) == ALERTMANAGER and event.integration == integration
    assert response.json()["id"] == event.pk


def test_receive_stores_what_the_orm_would(db):
    """The hook's raw INSERT: defaults, and a received_at the ORM's filters compare right."""
    integration, _ = make_integration()
    before = timezone.now()
    stored = InboundEvent.objects.receive(integration, '{"a": 1}')
    after = timezone.now()
    event = InboundEvent.objects.get(pk=stored.pk)
    assert (event.state, event.external_id, event.event_type, event.error) == (
        InboundEvent.State.PENDING,
        "",
        "",
        "",
    )
    assert event.body == '{"a": 1}' and event.processed_at is None and event.incident is None
    assert before <= event.received_at <= after and event.received_at == stored.received_at
    assert InboundEvent.objects.filter(received_at__lte=after, received_at__gte=before).count() == 1
    assert not InboundEvent.objects.filter(received_at__lt=before).exists()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"[]", "JSON object"),
        ({**ALERTMANAGER, "version": "2"}, "version"),
        ({**ALERTMANAGER, "alerts": []}, "non-empty list"),
        ({**ALERTMANAGER, "alerts": [{"status": "boiling", "labels": {}}]}, "firing or resolved"),
        (
            {**ALERTMANAGER, "alerts": [{**ALERTMANAGER["alerts"][0], "startsAt": "yesterday"}]},
            "RFC 3339",
        ),
        ({**ALERTMANAGER, "commonLabels": {"a": 1}}, "object of strings"),
    ],
)
def test_a_bad_payload_is_400_with_a_reason_and_stores_nothing(client, db, payload, reason):
    integration, token = make_integration()
    response = post(client, integration, token, payload)
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert not InboundEvent.objects.exists()


def test_unknown_token_wrong_kind_or_disabled_is_404(client, db):
    integration, token = make_integration()
    assert post(client, integration, "nope", ALERTMANAGER).status_code == 404
    wrong = client.post(f"/hooks/generic/{token}/", "{}", content_type="application/json")
    assert wrong.status_code == 404 and "error" in wrong.json()
    integration.enabled = False
    integration.save()
    assert post(client, integration, token, ALERTMANAGER).status_code == 404
    assert not InboundEvent.objects.exists()


def test_only_post_is_accepted(client, db):
    integration, token = make_integration()
    response = client.get(f"/hooks/alertmanager/{token}/")
    assert response.status_code == 405 and response["Allow"] == "POST"


def test_a_body_over_one_megabyte_is_413(client, db):
    integration, token = make_integration(kind="generic")
    big = json.dumps({"title": "x", "details": {"blob": "y" * (1024 * 1024)}})
    response = post(client, integration, token, big)
    assert response.status_code == 413 and "1048576 bytes" in response.json()["error"]
    assert not InboundEvent.objects.exists()


def test_rate_limit_answers_429_with_retry_after(client, db):
    from django.core.cache import cache

    cache.clear()
    integration, token = make_integration(kind="generic", rate_limit_per_minute=3)
    # The budget is per clock minute: the clock stands at 20 s past a minute, so all six posts
    # share one budget and the next one starts 40 s later.
    with time_machine.travel(datetime(2026, 3, 2, 9, 41, 20, tzinfo=UTC), tick=False):
        answers = [
            post(client, integration, token, {"title": f"t{n}"}).status_code for n in range(5)
        ]
        limited = post(client, integration, token, {"title": "again"})
    assert answers[:3] == [202, 202, 202] and answers[3:] == [429, 429]
    # Retry-After: the seconds left in this minute, when the budget starts again.
    assert limited["Retry-After"] == "40"
    assert "3 deliveries a minute" in limited.json()["error"]
    assert InboundEvent.objects.count() == 3


def test_the_budget_is_shared_and_a_refused_delivery_does_not_spend_it(client, db):
    """The count is the shared one, read back with each stored delivery's claim; the check
    before the store uses that last count (no round trip), so a delivery in flight while
    another process spends the budget still goes in, and the next one is refused."""
    from django.core.cache import cache

    cache.clear()
    integration, token = make_integration(kind="generic", rate_limit_per_minute=3)
    at = datetime(2026, 3, 2, 9, 41, 20, tzinfo=UTC)
    counter = f"hook-rate:{integration.pk}:{int(at.timestamp() // 60)}"
    with time_machine.travel(at, tick=False):
        assert post(client, integration, token, {"title": "first"}).status_code == 202
        # Another web process takes two deliveries of the same integration meanwhile.
        cache.incr_expiring(counter, 90)
        cache.incr_expiring(counter, 90)
        assert post(client, integration, token, {"title": "in flight"}).status_code == 202
        refused = [post(client, integration, token, {"title": f"r{n}"}) for n in range(3)]
        assert cache.get(counter) == 4  # the three refusals were not counted
    assert [r.status_code for r in refused] == [429, 429, 429]
    assert InboundEvent.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_with_the_broker_down_the_delivery_is_processed_in_the_request(client, dead_broker):
    from django.core.cache import cache

    integration, token = make_integration(kind="generic")
    # Ids restart in a flushed database: forget an earlier test's kick for the same id.
    cache.delete(kick_key(integration.pk))
    response = post(client, integration, token, {"title": "Checkout 500s", "severity": "high"})
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "processed" and body["incident"].startswith("INC-")
    assert "processed in the request" in body["note"]
    incident = Incident.objects.get()
    assert incident.title == "Checkout 500s" and incident.severity == "P1"


# -- Alertmanager onto incidents ---------------------------------------------------------------
def test_a_group_opens_one_incident_with_its_alerts_routed_by_the_default_rules(db):
    version = import_runbook(RUNBOOK, filename="db.md").version
    service = Service.objects.create(name="PostgreSQL primary")
    integration, _ = make_integration()
    event = deliver(integration, ALERTMANAGER)
    assert event.state == "processed"
    incident = Incident.objects.get()
    assert event.incident == incident
    # DatabaseConnectionExhaustion → P0 and its scenario, by the default rules.
    assert incident.severity == "P0"
    assert incident.title == "DatabaseConnectionExhaustion"
    assert list(incident.services.all()) == [service]
    [run] = incident.checklist_runs.all()
    assert run.scenario.version == version
    assert run.scenario.title == "Database Connection Exhaustion"
    alerts = list(incident.alerts.order_by("key"))
    assert [a.labels["instance"] for a in alerts] == ["db-1:9187", "db-2:9187"]
    assert all(a.status == "firing" and a.deliveries == 1 for a in alerts)
    assert alerts[0].annotations["runbook_url"].endswith("#exhaustion")
    assert alerts[0].source_url.startswith("http://prometheus.example.org/")
    assert incident.events.filter(kind=Kind.ALERT_FIRING).count() == 2


def test_a_repeated_delivery_is_a_no_op_but_counts(db):
    integration, _ = make_integration()
    deliver(integration, ALERTMANAGER)
    incident = Incident.objects.get()
    events = incident.events.count()
    again = deliver(integration, ALERTMANAGER)
    assert again.incident == incident and Incident.objects.count() == 1
    assert incident.events.count() == events
    assert set(Alert.objects.values_list("deliveries", flat=True)) == {2}
    # Processing the same stored delivery twice (a redelivered task) changes nothing.
    assert process_event(again.pk).state == "processed"
    assert set(Alert.objects.values_list("deliveries", flat=True)) == {2}


def test_resolved_alerts_are_noted_and_the_incident_shows_alerts_resolved(db):
    integration, _ = make_integration()
    deliver(integration, ALERTMANAGER)
    incident = Incident.objects.get()
    deliver(integration, resolved(ALERTMANAGER, 0))
    assert incident.events.filter(kind=Kind.ALERT_RESOLVED).count() == 1
    assert not incident.events.filter(kind=Kind.ALERTS_RESOLVED).exists()
    deliver(integration, resolved(ALERTMANAGER, 0, 1))
    assert incident.events.filter(kind=Kind.ALERT_RESOLVED).count() == 2
    assert incident.events.filter(kind=Kind.ALERTS_RESOLVED).count() == 1
    incident.refresh_from_db()
    assert incident.is_open  # auto-resolve is off by default
    deliver(integration, resolved(ALERTMANAGER, 0, 1))  # Alertmanager repeats: nothing new
    assert incident.events.filter(kind=Kind.ALERTS_RESOLVED).count() == 1


def test_auto_resolve_resolves_the_incident_when_every_alert_is_resolved(db):
    integration, _ = make_integration(auto_resolve=True)
    deliver(integration, ALERTMANAGER)
    deliver(integration, resolved(ALERTMANAGER, 0, 1))
    incident = Incident.objects.get()
    assert incident.status == "resolved"
    # Firing again after that opens a new incident: the old one stays closed.
    deliver(integration, ALERTMANAGER)
    assert Incident.objects.count() == 2
    fresh = Incident.objects.exclude(pk=incident.pk).get()
    assert set(fresh.alerts.values_list("status", flat=True)) == {"firing"}


def test_without_group_key_or_fingerprint_the_labels_identify(db):
    integration, _ = make_integration()
    payload = copy.deepcopy(ALERTMANAGER)
    del payload["groupKey"]
    payload["version"] = "3"
    for alert in payload["alerts"]:
        del alert["fingerprint"]
    deliver(integration, payload)
    deliver(integration, payload)
    assert Incident.objects.count() == 1
    assert Alert.objects.count() == 2
    assert set(Alert.objects.values_list("deliveries", flat=True)) == {2}


def test_rules_drop_and_route(db):
    integration, _ = make_integration(kind="generic")
    service = Service.objects.create(name="Payments")
    RoutingRule.objects.create(
        position=1,
        name="drop tests",
        action="drop",
        conditions=[{"field": "title", "op": "regex", "value": "test .*"}],
    )
    RoutingRule.objects.create(
        position=2,
        name="stripe to payments",
        conditions=[
            {"field": "labels.service", "op": "equals", "value": "stripe"},
            {"field": "severity", "op": "exists"},
        ],
        severity="P1",
        service=service,
    )
    dropped = deliver(integration, {"title": "test alert please ignore"})
    assert dropped.state == "dropped" and not Incident.objects.exists()
    routed = deliver(
        integration, {"title": "Charges failing", "service": "stripe", "severity": "low"}
    )
    assert routed.incident.severity == "P1"
    assert list(routed.incident.services.all()) == [service]
    plain = deliver(integration, {"title": "Disk 80%", "severity": "medium"})
    assert plain.incident.severity == "P2" and not plain.incident.services.exists()


def test_generic_dedup_key_and_resolution(db):
    integration, _ = make_integration(kind="generic", auto_resolve=True)
    first = deliver(integration, {"title": "Queue lag", "dedup_key": "lag-1", "severity": "P2"})
    second = deliver(integration, {"title": "Queue lag (worse)", "dedup_key": "lag-1"})
    assert first.incident == second.incident
    done = deliver(integration, {"title": "Queue lag", "dedup_key": "lag-1", "status": "resolved"})
    done.incident.refresh_from_db()
    assert done.incident.status == "resolved"


# -- concurrency -------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_deliveries_of_a_new_group_open_one_incident():
    integration, _ = make_integration()
    events = [
        InboundEvent.objects.create(integration=integration, body=json.dumps(ALERTMANAGER))
        for _ in range(50)
    ]
    barrier = threading.Barrier(10)
    failures: list[BaseException] = []

    def worker(batch: list[InboundEvent]) -> None:
        try:
            barrier.wait(timeout=30)
            for event in batch:
                process_event(event.pk)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(events[i::10],)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert Incident.objects.count() == 1
    assert set(InboundEvent.objects.values_list("state", flat=True)) == {"processed"}
    assert Alert.objects.count() == 2
    assert set(Alert.objects.values_list("deliveries", flat=True)) == {50}
    incident = Incident.objects.get()
    assert incident.events.filter(kind=Kind.ALERT_FIRING).count() == 2


def test_the_drain_processes_every_pending_delivery_oldest_first(db):
    from incidents.tasks import process_pending

    integration, _ = make_integration()
    other, _ = make_integration(kind="generic")
    for _ in range(3):
        InboundEvent.objects.create(integration=integration, body=json.dumps(ALERTMANAGER))
    InboundEvent.objects.create(integration=other, body=json.dumps({"title": "Other"}))
    assert process_pending(integration.pk) == 3
    assert process_pending(integration.pk) == 0
    assert InboundEvent.objects.filter(state="pending").get().integration == other
    assert process_pending() == 1  # beat's sweep: every integration
    assert set(
        Alert.objects.filter(integration=integration).values_list("deliveries", flat=True)
    ) == {3}


@pytest.mark.django_db(transaction=True)
def test_a_delivery_is_processed_by_a_real_worker(client):
    from celery.contrib.testing.worker import start_worker
    from django.core.cache import cache

    from console.celery import app
    from tests.waiting import wait_for

    integration, token = make_integration()
    cache.delete(kick_key(integration.pk))
    app.control.purge()
    with start_worker(app, pool="solo", concurrency=1, perform_ping_check=False):
        response = post(client, integration, token, ALERTMANAGER)
        assert response.status_code == 202 and response.json()["status"] == "queued"
        assert wait_for(lambda: Incident.objects.exists(), 30)
        assert wait_for(lambda: not InboundEvent.objects.filter(state="pending").exists(), 30)
    incident = Incident.objects.get()
    assert incident.severity == "P0" and incident.alerts.count() == 2


def test_nanosecond_timestamps_and_extra_fields_as_alertmanager_sends_them(db):
    """Alertmanager writes Go times (nanoseconds, a zone offset) and may add fields."""
    integration, _ = make_integration()
    payload = copy.deepcopy(ALERTMANAGER)
    payload["alerts"][0]["startsAt"] = "2026-11-23T10:00:00.123456789+01:00"
    payload["alerts"][1]["startsAt"] = "2026-11-23T09:01:00.5Z"
    payload["alerts"][0]["someFutureField"] = {"x": 1}
    payload["truncatedAlerts"] = 3
    event = deliver(integration, payload)
    assert event.state == "processed"
    first = Alert.objects.get(fingerprint="c0ffee0123456789")
    assert first.starts_at.isoformat() == "2026-11-23T09:00:00.123456+00:00"
