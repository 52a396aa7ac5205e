"""No request waits on a lock held by a task: tasks do their network I/O outside transactions.

On SQLite one writer at a time holds the database's write lock, so a task that sent an HTTP
request (a probe, a webhook page) inside `transaction.atomic()` would make every acknowledge
and note wait for the remote server, up to its timeout. Asserted structurally, not by timing:
the local server answering the task looks, at the moment the request reaches it, whether
another connection could take the write lock right now (SQLite: `BEGIN IMMEDIATE` with no
busy timeout; PostgreSQL: no other session of the test database is idle in a transaction).
"""

from __future__ import annotations

import sqlite3
from http.server import BaseHTTPRequestHandler

import pytest
from django.db import connection
from django.test import override_settings

from incidents.escalation.models import EscalationPolicy, NotificationDelivery
from probes.models import CheckRequest, Probe, ProbeResult
from probes.tasks import run_check_request, run_http_batch
from tests.incidents.escalation_helpers import staff_the_ladder
from tests.probes.servers import http_server

pytestmark = pytest.mark.django_db(transaction=True)


def write_lock_free() -> bool:
    """Could a request start a write transaction this instant, without waiting?"""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        other = sqlite3.connect(settings["NAME"], timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:
            return False
        finally:
            other.close()
    import psycopg

    with psycopg.connect(**connection.get_connection_params()) as other:
        (waiting,) = other.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state LIKE 'idle in transaction%%' AND pid <> pg_backend_pid()"
        ).fetchone()
    return waiting == 0


def observing_route(seen: list[bool]):
    def route(handler: BaseHTTPRequestHandler) -> tuple[int, dict, bytes]:
        length = int(handler.headers.get("Content-Length") or 0)
        if length:
            handler.rfile.read(length)
        seen.append(write_lock_free())
        return 200, {"Content-Type": "application/json"}, b'{"status": "ok"}'

    return route


def http_probe(url: str) -> Probe:
    probe = Probe(name="API health", kind="http", config={"url": url})
    probe.full_clean()
    probe.save()
    return probe


def test_an_http_probe_batch_holds_no_lock_while_its_requests_are_out() -> None:
    seen: list[bool] = []
    with http_server({"/health": observing_route(seen)}) as (base, _):
        probe = http_probe(f"{base}/health")
        run_http_batch.apply(args=[[probe.pk]])
    assert seen == [True]
    assert ProbeResult.objects.get(probe=probe).status == "ok"


def test_a_requested_check_holds_no_lock_while_its_request_is_out(responder) -> None:
    seen: list[bool] = []
    with http_server({"/health": observing_route(seen)}) as (base, _):
        probe = http_probe(f"{base}/health")
        # As "Run now" stores it; the task is what a worker would run.
        check = CheckRequest.objects.create(probe=probe, requested_by=responder)
        run_check_request.apply(args=[check.pk])
    assert seen == [True]
    check.refresh_from_db()
    assert check.result is not None and check.result.status == "ok"


def test_a_webhook_page_holds_no_lock_while_its_request_is_out(groups, responder) -> None:
    from incidents import actions
    from incidents.escalation.tasks import deliver_notification, sweep_escalations

    staff_the_ladder()
    level = EscalationPolicy.objects.get(severity="P0").levels.get(position=1)
    level.channels = ["webhook"]
    level.save()
    seen: list[bool] = []
    with (
        http_server({"/hook": observing_route(seen)}) as (base, _),
        override_settings(ESCALATION_WEBHOOK_URL=f"{base}/hook", ESCALATION_WEBHOOK_SECRET="s"),
    ):
        incident = actions.declare_incident(
            title="Checkout returns 502", severity="P0", declared_by=responder
        )
        sweep_escalations()
        delivery = NotificationDelivery.objects.get(incident=incident, channel="webhook")
        deliver_notification.apply(args=[delivery.pk])
    assert seen == [True]
    delivery.refresh_from_db()
    assert delivery.state == NotificationDelivery.State.SENT
