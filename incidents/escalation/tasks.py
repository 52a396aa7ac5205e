"""Celery tasks of the escalation engine. They take ids (and the ladder's token), lock the
rows and recheck, so running one twice, late or after a restart does no harm."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db.models import Q
from django.utils import timezone

from console.queue import enqueue
from incidents.escalation import engine, notify
from incidents.escalation.models import NotificationDelivery

log = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def escalate_level(incident_id: int, level: int, token: str) -> list[int]:
    """Runs at a level's due time; pages whatever of the ladder is due (normally `level`).
    A task whose token is no longer the ladder's (re-snapshot, stop) does nothing."""
    return engine.page_due(incident_id, token)


@shared_task(ignore_result=True)
def sweep_escalations(limit: int = 500) -> int:
    """Beat's safety net every 30 s: one query for every ladder with a level due, so a task
    the broker lost (or never got) never loses a page. Also re-queues stuck deliveries."""
    paged = 0
    for incident_id, token in engine.due_escalations(limit=limit):
        paged += len(engine.page_due(incident_id, token))
    requeue_deliveries()
    return paged


def requeue_deliveries(limit: int = 200) -> int:
    """Deliveries still pending a while after their last try (a lost retry, the broker down
    when they were queued), and claims of workers that died mid-send."""
    now = timezone.now()
    grace = now - timezone.timedelta(minutes=2)
    State = NotificationDelivery.State
    stuck = list(
        NotificationDelivery.objects.filter(state__in=[State.PENDING, State.SENDING])
        # A later rule step counts from when it fell due, not from when it was planned.
        .filter(Q(due_at__isnull=True, created_at__lt=grace) | Q(due_at__lt=grace))
        .filter(claimed_at__isnull=True)
        .values_list("pk", flat=True)[:limit]
    ) + list(
        NotificationDelivery.objects.filter(
            state__in=[State.PENDING, State.SENDING], claimed_at__lt=now - notify.STALE_CLAIM
        ).values_list("pk", flat=True)[:limit]
    )
    for pk in stuck:
        enqueue(deliver_notification, pk)
    return len(stuck)


@shared_task(bind=True, ignore_result=True, max_retries=None)
def deliver_notification(self, delivery_id: int) -> str:
    """Send one delivery. Retries are bounded by the delivery's own attempt count
    (ESCALATION_DELIVERY_ATTEMPTS), which survives redelivery and restarts."""
    outcome = notify.attempt(delivery_id)
    if outcome.state == "retry":
        countdown = notify.backoff_seconds(outcome.attempts)
        log.info("delivery %s: retry %s in %ss", delivery_id, outcome.attempts, countdown)
        raise self.retry(countdown=countdown)
    return outcome.state
