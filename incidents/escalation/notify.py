"""Sending one notification delivery through its channel's module (channels/: email, Slack,
the signed webhook, SMS, voice, push).

`attempt()` claims the delivery with a conditional UPDATE (pending → sending), so a delivery
queued twice is sent once; network errors and 5xx answers go back to pending for a bounded
number of retries, anything else fails for good. The outcome is written on the delivery and,
once final, on the timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from incidents.actions import record
from incidents.escalation.channels import (  # noqa: F401 - Transient… are notify's API too
    Permanent,
    Transient,
    incident_url,
)
from incidents.escalation.channels.slack import page_buttons, slack_payload  # noqa: F401
from incidents.escalation.channels.webhook import signature, webhook_payload  # noqa: F401
from incidents.escalation.models import Channel, NotificationDelivery
from incidents.models import Incident, Status, TimelineEvent

State = NotificationDelivery.State
# A claim older than this belongs to a worker that died mid-send; it may be taken again.
STALE_CLAIM = timedelta(minutes=5)


@dataclass
class Outcome:
    state: str  # sent, failed, retry, skipped, noop
    attempts: int = 0


def send(delivery: NotificationDelivery) -> int | None:
    """Deliver through the channel's module; the HTTP status code (None for email). Raises
    Transient or Permanent."""
    from incidents.escalation.channels import email, push, slack, slack_dm, sms, voice, webhook

    if delivery.channel == Channel.SLACK and delivery.step is not None:
        return slack_dm.send(delivery)  # a person's own step: a direct message
    senders = {
        Channel.EMAIL: email.send,
        Channel.SLACK: slack.send,
        Channel.WEBHOOK: webhook.send,
        Channel.SMS: sms.send,
        Channel.VOICE: voice.send,
        Channel.PUSH: push.send,
    }
    return senders[delivery.channel](delivery)


def claim(delivery_id: int) -> bool:
    now = timezone.now()
    return bool(
        NotificationDelivery.objects.filter(pk=delivery_id)
        .filter(Q(state=State.PENDING) | Q(state=State.SENDING, claimed_at__lt=now - STALE_CLAIM))
        # A later rule step waits for its time (an early redelivery doesn't send it).
        .filter(Q(due_at__isnull=True) | Q(due_at__lte=now))
        .update(state=State.SENDING, claimed_at=now, changed_at=now, attempts=F("attempts") + 1)
    )


def attempt(delivery_id: int) -> Outcome:
    """One try at a delivery. `retry` means: back to pending, try again after a backoff."""
    if not claim(delivery_id):
        return Outcome("noop")
    delivery = NotificationDelivery.objects.select_related("incident", "page", "user").get(
        pk=delivery_id
    )
    if delivery.incident.status == Status.RESOLVED:
        _finish(delivery, State.SKIPPED, error="the incident was resolved before delivery")
        return Outcome("skipped", delivery.attempts)
    if delivery.due_at is not None and delivery.incident.acknowledged_at is not None:
        # A person's later rule steps stop once anyone acknowledges.
        _finish(delivery, State.SKIPPED, error="acknowledged before this step was due")
        return Outcome("skipped", delivery.attempts)
    try:
        code = send(delivery)
    except Transient as exc:
        if delivery.attempts < settings.ESCALATION_DELIVERY_ATTEMPTS:
            # No timeline event for a retry (it would be noise); changed_at moves the
            # incident page's ETag so its escalation panel shows the retry.
            NotificationDelivery.objects.filter(pk=delivery.pk, state=State.SENDING).update(
                state=State.PENDING,
                error=str(exc)[:2000],
                response_code=exc.code,
                changed_at=timezone.now(),
            )
            return Outcome("retry", delivery.attempts)
        _finish(delivery, State.FAILED, code=exc.code, error=str(exc))
        return Outcome("failed", delivery.attempts)
    except Permanent as exc:
        _finish(delivery, State.FAILED, code=exc.code, error=str(exc))
        return Outcome("failed", delivery.attempts)
    _finish(delivery, State.SENT, code=code)
    return Outcome("sent", delivery.attempts)


def _finish(delivery: NotificationDelivery, state: str, code: int | None = None, error: str = ""):
    now = timezone.now()
    with transaction.atomic():
        changed = NotificationDelivery.objects.filter(pk=delivery.pk, state=State.SENDING).update(
            state=state, response_code=code, error=error[:2000], finished_at=now, changed_at=now
        )
        if not changed or state == State.SKIPPED:
            return
        brought_forward = bring_next_step_forward(delivery, now) if state == State.FAILED else None
        kind = (
            TimelineEvent.Kind.NOTIFICATION_SENT
            if state == State.SENT
            else TimelineEvent.Kind.NOTIFICATION_FAILED
        )
        record(
            delivery.incident,
            kind,
            None,
            text=error[:500],
            data={
                "delivery_id": delivery.pk,
                "level": delivery.page.level,
                "channel": delivery.channel,
                "target": delivery.target,
                "attempts": delivery.attempts,
                "response_code": code,
                "user": delivery.user.get_username() if delivery.user else None,
                "step": delivery.step,
                "next_step": brought_forward,
            },
            at=now,
        )


def bring_next_step_forward(delivery: NotificationDelivery, now) -> int | None:
    """A person's step failed: their next pending step is due now (queued after the commit).
    Its delivery id, or None when there is none (or the incident is acknowledged)."""
    if delivery.step is None or delivery.user_id is None:
        return None
    if Incident.objects.filter(pk=delivery.incident_id, acknowledged_at__isnull=False).exists():
        return None
    following = (
        NotificationDelivery.objects.filter(
            page_id=delivery.page_id,
            user_id=delivery.user_id,
            step__gt=delivery.step,
            state=State.PENDING,
            due_at__gt=now,
        )
        .order_by("step")
        .first()
    )
    if following is None:
        return None
    NotificationDelivery.objects.filter(pk=following.pk, state=State.PENDING).update(
        due_at=now, changed_at=now
    )
    from console.queue import enqueue
    from incidents.escalation.tasks import deliver_notification

    enqueue(deliver_notification, following.pk)
    return following.pk


def backoff_seconds(attempts: int) -> float:
    base = settings.ESCALATION_RETRY_BACKOFF_SECONDS
    return min(base * 2 ** max(attempts - 1, 0), 600)
