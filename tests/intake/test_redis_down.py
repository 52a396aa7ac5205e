"""Broker and cache down cost nothing: a breaker stops publishing after one failure, the
delivery is processed in the request, and the rate limit is counted per process."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from console.queue import BREAKER_SECONDS, breaker, enqueue
from incidents.intake.models import InboundEvent
from incidents.models import Incident
from incidents.tasks import process_pending
from tests.incidents.payloads import ALERTMANAGER
from tests.incidents.test_intake import make_integration
from tests.intake.gunicorn import gunicorn
from tests.probes.servers import free_port


@pytest.mark.django_db(transaction=True)
def test_after_one_failed_publish_the_breaker_answers_at_once_until_its_pause_ends(dead_broker):
    assert not breaker.is_open
    assert enqueue(process_pending, 1) is False
    assert breaker.is_open
    paused_until = breaker.open_until
    assert enqueue(process_pending, 1) is False  # not tried: the pause holds
    assert breaker.open_until == paused_until
    breaker.open_until = time.monotonic() - 0.01  # the pause is over: one try, still down
    assert enqueue(process_pending, 1) is False
    assert breaker.open_until > paused_until
    assert breaker.seconds == 2 * BREAKER_SECONDS  # failed again: a longer pause


@pytest.mark.django_db(transaction=True)
def test_the_breaker_closes_when_the_broker_is_back():
    from console.celery import app

    app.control.purge()
    breaker.failed()
    breaker.open_until = time.monotonic() - 0.01
    assert enqueue(process_pending, 1) is True
    assert not breaker.is_open and breaker.open_until == 0.0
    app.control.purge()


@pytest.mark.django_db(transaction=True)
def test_with_redis_unreachable_deliveries_process_in_the_request_and_the_limit_holds():
    integration, token = make_integration(rate_limit_per_minute=120)
    dead = f"redis://127.0.0.1:{free_port()}/0"
    body = json.dumps(ALERTMANAGER)
    answers: list[httpx.Response] = []
    with gunicorn(workers=1, REDIS_URL=dead) as base, httpx.Client(base_url=base) as client:
        # Not at a minute's edge: the 200 posts fall in one rate window.
        if time.time() % 60 > 45:
            time.sleep(61 - time.time() % 60)
        for _ in range(200):
            answers.append(
                client.post(
                    f"/hooks/alertmanager/{token}/",
                    content=body,
                    headers={"Content-Type": "application/json"},
                    timeout=30,
                )
            )
    statuses = [a.status_code for a in answers]
    assert statuses.count(202) == 120 and statuses.count(429) == 80
    assert all(a.headers["Retry-After"].isdigit() for a in answers if a.status_code == 429)
    accepted = [a.json() for a in answers if a.status_code == 202]
    assert {a["status"] for a in accepted} == {"processed"}
    assert all("unavailable" in a["note"] for a in accepted)
    assert InboundEvent.objects.count() == 120
    assert set(InboundEvent.objects.values_list("state", flat=True)) == {"processed"}
    [incident] = Incident.objects.all()
    assert incident.alerts.count() == 2
    assert set(incident.alerts.values_list("deliveries", flat=True)) == {120}
