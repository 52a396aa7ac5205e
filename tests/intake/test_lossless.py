"""Nothing accepted is lost: what the database can't hold is normalised at the edge, a delivery
that still fails is retried and then kept as failed (visible, and processed again after a fix),
and the console says so in its nav and a health banner."""

from __future__ import annotations

import copy
import json

import pytest
from django.core.cache import cache

from console.celery import app
from incidents.intake.models import Alert, InboundEvent, RoutingRule
from incidents.intake.process import MAX_ATTEMPTS, drain, kick_key, process_event
from incidents.models import Incident
from tests.incidents.payloads import ALERTMANAGER
from tests.incidents.test_intake import make_integration, post
from tests.waiting import wait_for
from tests.workers import worker_processes

LONG = "x" * 250


def alertmanager(group_key: str, **changes) -> dict:
    payload = copy.deepcopy(ALERTMANAGER)
    payload["groupKey"] = group_key
    for alert in payload["alerts"]:
        alert["fingerprint"] = f"{group_key}-{alert['fingerprint']}"[:60]
    payload.update(changes)
    return payload


def adversarial() -> list[tuple[str, dict]]:
    """Well-formed deliveries the database could not hold as they are."""
    long_summary = alertmanager("long", commonAnnotations={"summary": "s" * 400})
    nul = alertmanager("nul")
    nul["alerts"][0]["labels"]["instance"] = "db-1\u0000:9187"
    nul["alerts"][0]["fingerprint"] = "nul\u0000print"
    nul["alerts"][0]["generatorURL"] = "http://p.example.org/\u0000graph"
    nul["alerts"][0]["annotations"]["summary"] = "a\u0000b"
    surrogate = alertmanager("surrogate", commonAnnotations={"summary": "half \ud83d a pair"})
    emoji = alertmanager("emoji", commonAnnotations={"summary": "disk full \U0001f4a5 on db-1"})
    long_url = alertmanager("url")
    long_url["alerts"][1]["generatorURL"] = "http://p.example.org/?" + "q" * 2000
    long_fingerprint = alertmanager("fp")
    long_fingerprint["alerts"][0]["fingerprint"] = "f" * 300
    return [
        ("alertmanager", long_summary),
        ("alertmanager", nul),
        ("alertmanager", surrogate),
        ("alertmanager", emoji),
        ("alertmanager", long_url),
        ("alertmanager", long_fingerprint),
        ("generic", {"title": "t" * 250, "dedup_key": "generic-long"}),
        ("generic", {"title": "NUL\u0000 title \udfff", "details": {"k\u0000": "v\u0000"}}),
    ]


@pytest.mark.django_db(transaction=True)
def test_adversarial_well_formed_deliveries_all_end_in_incidents(client):
    hooks = {kind: make_integration(kind) for kind in ("alertmanager", "generic")}
    cache.clear()
    app.control.purge()
    with worker_processes("lossless@test"):
        for kind, payload in adversarial():
            integration, token = hooks[kind]
            body = json.dumps(payload)  # \u0000 and lone surrogates as JSON escapes
            response = post(client, integration, token, body)
            assert response.status_code == 202, response.content
        assert wait_for(lambda: not InboundEvent.objects.filter(state="pending").exists(), 60)
    assert list(InboundEvent.objects.exclude(state="processed")) == []
    assert InboundEvent.objects.filter(incident__isnull=True).count() == 0
    assert Incident.objects.count() == 8

    long = Incident.objects.get(title__startswith="DatabaseConnectionExhaustion: sss")
    assert len(long.title) == 200 and long.title.endswith("…")
    alert = Alert.objects.get(incident=long, fingerprint__endswith="c0ffee0123456789")
    assert alert.annotations["summary"] == "s" * 400  # the full text, uncut
    generic_long = Incident.objects.get(title__startswith="ttt")
    assert len(generic_long.title) == 200 and generic_long.title.endswith("…")
    [generic_alert] = generic_long.alerts.all()
    assert generic_alert.details["title"] == "t" * 250
    assert generic_alert.details["name"] == "t" * 250 and len(generic_alert.name) == 200

    nul = Alert.objects.get(fingerprint="nulprint")
    assert nul.labels["instance"] == "db-1:9187" and nul.source_url == "http://p.example.org/graph"
    assert nul.annotations["summary"] == "ab"
    assert Incident.objects.filter(
        title="DatabaseConnectionExhaustion: half \ufffd a pair"
    ).exists()
    assert Incident.objects.filter(
        title="DatabaseConnectionExhaustion: disk full \U0001f4a5 on db-1"
    ).exists()
    url_alert = Alert.objects.get(fingerprint="url-c0ffee9876543210")
    assert len(url_alert.source_url) == 1000 and url_alert.details["source_url"].endswith(
        "q" * 2000
    )
    fp_alert = Alert.objects.get(details__fingerprint="f" * 300)
    assert len(fp_alert.fingerprint) <= 64 and fp_alert.incident is not None
    assert Incident.objects.filter(title="NUL title \ufffd").exists()
    assert Alert.objects.get(name="NUL title \ufffd").annotations == {"k": "v"}
    # No incident is open without its alerts.
    assert not Incident.objects.open().filter(alerts__isnull=True).exists()


def broken_rule() -> RoutingRule:
    """A rule saved past its validation (as by older code or the shell): its regular
    expression does not compile, so routing raises for every delivery."""
    return RoutingRule.objects.create(
        name="broken", conditions=[{"field": "labels.job", "op": "regex", "value": "(post"}]
    )


def test_a_failing_delivery_is_retried_then_kept_failed_and_processed_again(db, time_machine):
    integration, _ = make_integration()
    rule = broken_rule()
    event = InboundEvent.objects.receive(integration, json.dumps(ALERTMANAGER))
    time_machine.move_to("2026-12-01T10:00:00Z", tick=False)
    assert drain(integration.pk) == 1
    event.refresh_from_db()
    assert event.state == "pending" and event.attempts == 1 and "error" in event.error
    assert drain(integration.pk) == 0  # not due yet
    for attempt in range(2, MAX_ATTEMPTS + 1):
        time_machine.shift(60)
        assert drain(integration.pk) == 1
        event.refresh_from_db()
        assert event.attempts == attempt
    assert event.state == "failed" and event.processed_at is not None
    assert "missing ), unterminated subpattern" in event.error
    assert not Incident.objects.exists()

    rule.conditions = [{"field": "labels.job", "op": "regex", "value": "(post).*"}]
    rule.save()
    event.refresh_from_db()
    assert event.state == "failed"
    assert drain(integration.pk) == 0  # failed stays failed until someone asks
    from incidents.intake.process import process_again

    assert process_again(InboundEvent.objects.filter(pk=event.pk)) == [integration.pk]
    assert drain(integration.pk) == 1
    event.refresh_from_db()
    assert event.state == "processed" and event.error == "" and event.incident is not None
    assert event.incident.alerts.count() == 2


def fail_one(integration) -> InboundEvent:
    rule = broken_rule()
    event = InboundEvent.objects.receive(integration, json.dumps(ALERTMANAGER))
    for _ in range(MAX_ATTEMPTS):
        InboundEvent.objects.filter(pk=event.pk).update(next_attempt_at=None)
        drain(integration.pk)
    event.refresh_from_db()
    assert event.state == "failed"
    rule.delete()
    return event


def test_failed_deliveries_show_in_nav_banner_and_list_with_process_again(
    lead_client, responder_client, django_capture_on_commit_callbacks
):
    integration, _ = make_integration()
    with django_capture_on_commit_callbacks(execute=True):
        event = fail_one(integration)
    page = lead_client.get("/incidents/").content.decode()
    assert 'class="ig-nav-count"' in page and ">1</span>" in page
    assert "Alert intake needs attention" in page and "1 delivery could not be processed" in page
    listing = lead_client.get("/incidents/integrations/").content.decode()
    assert 'id="failed-deliveries"' in listing and f"delivery-{event.pk}" in listing
    assert "Process again" in listing and "unterminated subpattern" in listing

    # Who may: a responder sees the banner but may not process again; GET is 405.
    assert "Alert intake needs attention" in responder_client.get("/incidents/").content.decode()
    url = "/incidents/integrations/deliveries/again/"
    assert responder_client.post(url, {"delivery": event.pk}).status_code == 403
    assert lead_client.get(url).status_code == 405
    assert lead_client.post(url, {}).status_code == 400

    cache.delete(kick_key(integration.pk))
    with django_capture_on_commit_callbacks(execute=True):
        response = lead_client.post(url, {"delivery": event.pk})
    assert response.status_code == 302
    # Processed by a worker, or here when the broker is down: either way, pending or done.
    event.refresh_from_db()
    if event.state == "pending":
        process_event(event.pk)
        event.refresh_from_db()
    assert event.state == "processed" and event.incident.alerts.count() == 2
    page = lead_client.get("/incidents/").content.decode()
    assert "Alert intake needs attention" not in page and 'class="ig-nav-count"' not in page


def test_a_refused_stored_body_fails_at_once_with_its_reason(db):
    integration, _ = make_integration()
    event = InboundEvent.objects.receive(integration, '{"version": "2"}')  # older code's row
    process_event(event.pk)
    event.refresh_from_db()
    assert event.state == "failed" and "Unsupported Alertmanager webhook version" in event.error


def test_deliveries_stuck_pending_show_in_the_banner_once_the_hook_looks(client, lead_client):
    from datetime import timedelta

    from django.utils import timezone

    from incidents.intake import process

    integration, token = make_integration()
    InboundEvent.objects.create(
        integration=integration,
        body=json.dumps(ALERTMANAGER),
        received_at=timezone.now() - timedelta(minutes=3),
    )
    process._refreshed[0] = 0.0  # a minute since this process last looked
    assert post(client, integration, token, ALERTMANAGER).status_code == 202
    page = lead_client.get("/incidents/").content.decode()
    assert "1 delivery waiting over two minutes (is a worker running?)" in page
