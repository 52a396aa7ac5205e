"""Sending an endpoint's deliveries, oldest first, one at a time.

A delivery is claimed with a conditional UPDATE (pending → sending) so it is sent once
however many drains run. A later delivery waits until the one before it is sent or has
failed for good, so an endpoint receives its events in the order they happened. Any answer
other than 2xx, and any network error, is retried with exponential backoff
(WEBHOOK_RETRY_BACKOFF_SECONDS × 2^(attempt-1)) up to WEBHOOK_DELIVERY_ATTEMPTS tries.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

import httpx
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from incidents.escalation.notify import signature
from incidents.webhooks.models import WebhookDelivery, WebhookEndpoint

State = WebhookDelivery.State
STALE_CLAIM = timedelta(minutes=5)
# One drain sends at most this many before handing over to a fresh task.
DRAIN_BATCH = 100
USER_AGENT = "incident-console-webhooks/1"


def body_of(delivery: WebhookDelivery) -> bytes:
    return json.dumps(delivery.payload, separators=(",", ":")).encode()


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=settings.WEBHOOK_RETRY_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0))


def _claim(delivery: WebhookDelivery, now) -> bool:
    return bool(
        WebhookDelivery.objects.filter(
            pk=delivery.pk, state=delivery.state, attempts=delivery.attempts
        ).update(state=State.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    )


def send(endpoint: WebhookEndpoint, delivery: WebhookDelivery) -> tuple[int | None, str, str]:
    """POST the delivery: (status code or None, response body excerpt, error)."""
    body = body_of(delivery)
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Console-Event": delivery.event_type,
        "X-Console-Delivery": str(delivery.pk),
        "X-Console-Timestamp": timestamp,
        "X-Console-Signature": signature(endpoint.secret, timestamp, body),
    }
    try:
        response = httpx.post(
            endpoint.url,
            content=body,
            headers=headers,
            timeout=settings.WEBHOOK_HTTP_TIMEOUT,
            follow_redirects=False,
        )
    except httpx.HTTPError as exc:
        return None, "", f"{type(exc).__name__}: {exc}"[:2000]
    error = "" if response.is_success else f"HTTP {response.status_code}"
    return response.status_code, response.text[:2000], error


def drain(endpoint_id: int) -> float | None:
    """Send what is due for the endpoint. Returns the seconds until it should run again
    (a retry's backoff, or 0 when the batch ran out), None when nothing waits on it."""
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id, enabled=True).first()
    if endpoint is None:
        return None
    for _ in range(DRAIN_BATCH):
        head = (
            WebhookDelivery.objects.filter(
                endpoint=endpoint, state__in=[State.PENDING, State.SENDING]
            )
            .order_by("id")
            .first()
        )
        if head is None:
            return None
        now = timezone.now()
        if head.state == State.SENDING and head.claimed_at and head.claimed_at > now - STALE_CLAIM:
            return None  # another worker is sending it; it carries on after
        if head.next_attempt_at > now:
            return (head.next_attempt_at - now).total_seconds()
        if not _claim(head, now):
            continue
        attempts = head.attempts + 1
        code, text, error = send(endpoint, head)
        finished = timezone.now()
        if not error:
            fields = {"state": State.SENT, "finished_at": finished}
        elif attempts >= settings.WEBHOOK_DELIVERY_ATTEMPTS:
            fields = {"state": State.FAILED, "finished_at": finished}
        else:
            fields = {"state": State.PENDING, "next_attempt_at": finished + backoff(attempts)}
        WebhookDelivery.objects.filter(pk=head.pk, state=State.SENDING).update(
            response_code=code, response_body=text, error=error, **fields
        )
        if fields["state"] == State.PENDING:
            return backoff(attempts).total_seconds()
    return 0.0
