"""Exactly once with real workers: two `celery worker` processes against the test database
(PostgreSQL in CI, the SQLite file otherwise) get the same level task many times, the same
task id again (what a broker's redelivery looks like), duplicate deliveries and the sweep,
all at once, then are restarted and get it all again. Each level is paged once and each
target gets one delivery per channel; the webhook receiver (a real server on 127.0.0.1)
sees one signed POST per level."""

from __future__ import annotations

import hashlib
import hmac
import threading
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.test import override_settings
from django.utils import timezone

from console.celery import app
from incidents import actions
from incidents.escalation import notify
from incidents.escalation.models import (
    EscalationPage,
    EscalationPolicy,
    IncidentEscalation,
    NotificationDelivery,
)
from incidents.escalation.tasks import (
    deliver_notification,
    escalate_level,
    requeue_deliveries,
    sweep_escalations,
)
from incidents.models import TimelineEvent
from incidents.permissions import sync_role_groups
from tests.incidents.escalation_helpers import receiving_server, staff_the_ladder
from tests.waiting import wait_for
from tests.workers import worker_processes

SECRET = "race-secret"
FINAL = ["sent", "failed", "skipped"]
State = NotificationDelivery.State


def queue_storm(incident_id: int, token: str, task_ids: dict[int, str]) -> None:
    """Every level task 5 times, each level's first task id again, 5 sweeps, and whatever
    deliveries exist by now twice more."""
    for level in (1, 2, 3, 4):
        for _ in range(5):
            escalate_level.apply_async(args=[incident_id, level, token])
        escalate_level.apply_async(args=[incident_id, level, token], task_id=task_ids[level])
    for _ in range(5):
        sweep_escalations.apply_async()
    for pk in NotificationDelivery.objects.values_list("pk", flat=True):
        deliver_notification.apply_async(args=[pk])
        deliver_notification.apply_async(args=[pk])


def settled(incident) -> bool:
    return (
        EscalationPage.objects.filter(incident=incident).count() == 4
        and not NotificationDelivery.objects.exclude(state__in=FINAL).exists()
    )


def idle() -> bool:
    inspect = app.control.inspect(timeout=0.5)
    busy = [inspect.active() or {}, inspect.reserved() or {}, inspect.scheduled() or {}]
    return bool(busy[0]) and not any(tasks for state in busy for tasks in state.values())


@pytest.mark.django_db(transaction=True)
def test_two_workers_page_each_level_once_and_deliver_once(monkeypatch):
    sync_role_groups()
    people = staff_the_ladder()
    policy = EscalationPolicy.objects.get(severity="P0")
    # Every level due at once, every channel on: the race is the point, not the clock.
    for level in policy.levels.all():
        level.delay_minutes = 0
        level.channels = ["email", "webhook"]
        level.save()
    Group.objects.get(name="Manager").user_set.add(people["lead-lars"])

    app.control.purge()
    with receiving_server() as hook:
        monkeypatch.setenv("ESCALATION_WEBHOOK_URL", hook.url)
        monkeypatch.setenv("ESCALATION_WEBHOOK_SECRET", SECRET)
        monkeypatch.setenv("ESCALATION_RETRY_BACKOFF_SECONDS", "0")
        with override_settings(ESCALATION_WEBHOOK_URL=hook.url, ESCALATION_WEBHOOK_SECRET=SECRET):
            incident = actions.declare_incident(
                title="Race", severity="P0", declared_by=people["oncall-olga"]
            )
            token = IncidentEscalation.objects.get(incident=incident).token
            task_ids = {level: str(uuid.uuid4()) for level in (1, 2, 3, 4)}

            with worker_processes("esc-a@test", "esc-b@test"):
                # The sweep runs here too, in threads, while the workers page.
                sweepers = [threading.Thread(target=sweep_escalations) for _ in range(3)]
                for thread in sweepers:
                    thread.start()
                queue_storm(incident.pk, token, task_ids)
                for thread in sweepers:
                    thread.join(timeout=60)
                assert wait_for(lambda: settled(incident), 90)
                queue_storm(incident.pk, token, task_ids)
                assert wait_for(idle, 60)

            # A restart: new worker processes get it all again.
            with worker_processes("esc-c@test", "esc-d@test"):
                queue_storm(incident.pk, token, task_ids)
                assert wait_for(idle, 60)

    pages = list(EscalationPage.objects.filter(incident=incident).order_by("level"))
    assert [p.level for p in pages] == [1, 2, 3, 4]
    paged = TimelineEvent.objects.filter(incident=incident, kind="escalation_paged")
    assert sorted(paged.values_list("data__level", flat=True)) == [1, 2, 3, 4]

    deliveries = NotificationDelivery.objects.filter(incident=incident)
    # L1: the on-call engineer; L2: the Lead group (lead-lars); L3 and L4: the Manager
    # group (cto-carmen, lead-lars): one email each, plus one webhook per level.
    emails = sorted(deliveries.filter(channel="email").values_list("page__level", "user__username"))
    assert emails == [
        (1, "oncall-olga"),
        (2, "lead-lars"),
        (3, "cto-carmen"),
        (3, "lead-lars"),
        (4, "cto-carmen"),
        (4, "lead-lars"),
    ]
    assert deliveries.filter(channel="webhook").count() == 4
    assert set(deliveries.values_list("state", flat=True)) == {"sent"}
    assert set(deliveries.values_list("attempts", flat=True)) == {1}
    sent = TimelineEvent.objects.filter(incident=incident, kind="notification_sent")
    assert sent.count() == 10

    # The receiver got one POST per level, each signed over "<timestamp>.<body>".
    assert len(hook.received) == 4
    for request in hook.received:
        headers = {k.lower(): v for k, v in request["headers"].items()}
        mac = hmac.new(
            SECRET.encode(),
            headers["x-console-timestamp"].encode() + b"." + request["body"],
            hashlib.sha256,
        ).hexdigest()
        assert headers["x-console-signature"] == f"sha256={mac}"


@pytest.mark.django_db(transaction=True)
def test_a_claim_whose_worker_died_is_retried_once_by_the_sweep_after_the_lease(monkeypatch):
    """A worker claims a delivery (pending → sending) and dies before sending. Before the
    5-minute lease ends the sweep leaves it alone and nobody can take it; after, the sweep
    re-queues it (two sweeps here, as two beat ticks would) and a real worker sends it once."""
    sync_role_groups()
    people = staff_the_ladder()
    level = EscalationPolicy.objects.get(severity="P0").levels.get(position=1)
    level.channels = ["webhook"]
    level.save()
    app.control.purge()
    died_at = timezone.now() - notify.STALE_CLAIM - timedelta(seconds=30)
    with receiving_server() as hook:
        monkeypatch.setenv("ESCALATION_WEBHOOK_URL", hook.url)
        monkeypatch.setenv("ESCALATION_WEBHOOK_SECRET", SECRET)
        with override_settings(ESCALATION_WEBHOOK_URL=hook.url, ESCALATION_WEBHOOK_SECRET=SECRET):
            with time_machine.travel(died_at - timedelta(minutes=1), tick=False):
                incident = actions.declare_incident(
                    title="Died mid-send", severity="P0", declared_by=people["oncall-olga"]
                )
                sweep_escalations()
            delivery = NotificationDelivery.objects.get(incident=incident)
            # The worker that took the delivery's task: it claims, then dies (its task is
            # gone from the queue, acknowledged, as with acks_early).
            app.control.purge()
            with time_machine.travel(died_at, tick=False):
                assert notify.claim(delivery.pk)

            with time_machine.travel(died_at + notify.STALE_CLAIM - timedelta(seconds=1)):
                assert requeue_deliveries() == 0
                assert notify.attempt(delivery.pk).state == "noop"  # nobody else may take it
            delivery.refresh_from_db()
            assert (delivery.state, delivery.attempts) == (State.SENDING, 1)

            # After the lease: two sweeps (two beat ticks before a worker got to it) queue
            # it twice; the worker that starts then takes both tasks.
            assert [requeue_deliveries(), requeue_deliveries()] == [1, 1]
            with worker_processes("esc-lease@test"):
                assert wait_for(lambda: settled_one(delivery), 60)
                assert wait_for(idle, 60)
                assert requeue_deliveries() == 0

    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == (State.SENT, 2)
    assert len(hook.received) == 1
    sent = TimelineEvent.objects.filter(incident=incident, kind="notification_sent")
    assert sent.count() == 1 and sent.get().data["attempts"] == 2


def settled_one(delivery) -> bool:
    delivery.refresh_from_db()
    return delivery.state in FINAL
