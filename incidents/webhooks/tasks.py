from __future__ import annotations

from celery import shared_task
from django.db.models import Q
from django.utils import timezone

from console.queue import enqueue
from incidents.webhooks import delivery
from incidents.webhooks.models import WebhookDelivery

State = WebhookDelivery.State


def kick(endpoint_id: int, countdown: float = 0) -> bool:
    """Queue a drain; False with the broker down (the sweep sends it then)."""
    return enqueue(deliver, endpoint_id, countdown=countdown)


@shared_task(ignore_result=True)
def deliver(endpoint_id: int) -> None:
    wait = delivery.drain(endpoint_id)
    if wait is not None:
        kick(endpoint_id, countdown=wait)


@shared_task(ignore_result=True)
def sweep_webhooks() -> int:
    """Beat's safety net: drain every endpoint with a delivery due (a lost kick or retry, a
    worker that died mid-send)."""
    now = timezone.now()
    due = (
        WebhookDelivery.objects.filter(
            Q(state=State.PENDING, next_attempt_at__lte=now)
            | Q(state=State.SENDING, claimed_at__lt=now - delivery.STALE_CLAIM)
        )
        .values_list("endpoint_id", flat=True)
        .distinct()
    )
    endpoints = sorted(set(due))
    for endpoint_id in endpoints:
        delivery.drain(endpoint_id)
    return len(endpoints)
