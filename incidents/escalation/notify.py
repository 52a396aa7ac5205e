"""Sending one notification delivery: email (Django mail), a Slack incoming webhook (Block
Kit), or the generic webhook (JSON signed with HMAC-SHA256).

`attempt()` claims the delivery with a conditional UPDATE (pending → sending), so a delivery
queued twice is sent once; network errors and 5xx answers go back to pending for a bounded
number of retries, anything else fails for good. The outcome is written on the delivery and,
once final, on the timeline.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import time
from dataclasses import dataclass
from datetime import timedelta

import httpx
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from incidents.actions import record
from incidents.escalation.models import Channel, NotificationDelivery, NotificationProfile
from incidents.models import Incident, Status, TimelineEvent

State = NotificationDelivery.State
# A claim older than this belongs to a worker that died mid-send; it may be taken again.
STALE_CLAIM = timedelta(minutes=5)


class Transient(Exception):
    """Worth retrying: the network, or the other side's 5xx/429."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


class Permanent(Exception):
    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


@dataclass
class Outcome:
    state: str  # sent, failed, retry, skipped, noop
    attempts: int = 0


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def incident_url(incident: Incident) -> str:
    return settings.CONSOLE_BASE_URL.rstrip("/") + incident.get_absolute_url()


def slack_payload(delivery: NotificationDelivery, mentions: list[str]) -> dict:
    incident, page = delivery.incident, delivery.page
    link = incident_url(incident)
    who = " ".join(f"<@{member}>" for member in mentions) or "_nobody with a Slack id_"
    return {
        "text": f"{incident.severity} {incident.reference} {incident.title}: L{page.level} paged",
        "blocks": [
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": f"{incident.severity} · {incident.reference} · L{page.level} paged"[
                        :150
                    ],
                },
            },
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*<{link}|{incident.title}>*\n{who}"},
                "fields": [
                    {"type": "mrkdwn", "text": f"*Severity*\n{incident.get_severity_display()}"},
                    {"type": "mrkdwn", "text": f"*Status*\n{incident.get_status_display()}"},
                    {"type": "mrkdwn", "text": f"*Level*\nL{page.level} {page.name}"},
                    {"type": "mrkdwn", "text": "*Acknowledged*\nnot yet"},
                ],
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"Declared {incident.declared_at:%Y-%m-%d %H:%M %Z} · "
                        f"acknowledge in the console: {link}",
                    }
                ],
            },
            page_buttons(incident),
        ],
    }


def page_buttons(incident: Incident) -> dict:
    """Acknowledge and Escalate: Slack posts the press to /hooks/slack/interactions/."""
    return {
        "type": "actions",
        "block_id": f"incident-{incident.pk}",
        "elements": [
            {
                "type": "button",
                "action_id": "acknowledge",
                "text": {"type": "plain_text", "text": "Acknowledge"},
                "style": "primary",
                "value": str(incident.pk),
            },
            {
                "type": "button",
                "action_id": "escalate",
                "text": {"type": "plain_text", "text": "Escalate"},
                "style": "danger",
                "value": str(incident.pk),
            },
        ],
    }


def webhook_payload(delivery: NotificationDelivery, usernames: list[str]) -> dict:
    incident, page = delivery.incident, delivery.page
    return {
        "event": "escalation.paged",
        "incident": {
            "id": incident.pk,
            "reference": incident.reference,
            "title": incident.title,
            "severity": incident.severity,
            "status": incident.status,
            "declared_at": incident.declared_at.isoformat(),
            "url": incident_url(incident),
        },
        "level": {"position": page.level, "name": page.name},
        "paged_at": page.paged_at.isoformat(),
        "recipients": usernames,
    }


def _page_people(delivery: NotificationDelivery) -> list:
    """The people the delivery's page reached, in the order they were paged."""
    from django.contrib.auth import get_user_model

    ids = list(delivery.page.recipients)
    found = {
        u.pk: u
        for u in get_user_model().objects.filter(pk__in=ids).select_related("notification_profile")
    }
    return [found[pk] for pk in ids if pk in found]


def _post(url: str, body: bytes, headers: dict, with_text: bool = False):
    try:
        response = httpx.post(
            url,
            content=body,
            headers={"Content-Type": "application/json", **headers},
            timeout=settings.ESCALATION_HTTP_TIMEOUT,
        )
    except httpx.HTTPError as exc:
        raise Transient(f"{type(exc).__name__}: {exc}") from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise Transient(f"HTTP {response.status_code}: {response.text[:200]}", response.status_code)
    if response.status_code >= 400:
        raise Permanent(f"HTTP {response.status_code}: {response.text[:200]}", response.status_code)
    if with_text:
        return response.status_code, response.text
    return response.status_code


def send(delivery: NotificationDelivery) -> int | None:
    """Deliver; the HTTP status code (None for email). Raises Transient or Permanent."""
    from incidents.escalation.channels import push, slack_dm, sms, voice

    incident = delivery.incident
    personal = {Channel.SMS: sms.send, Channel.VOICE: voice.send, Channel.PUSH: push.send}
    if delivery.channel in personal:
        return personal[delivery.channel](delivery)
    if delivery.channel == Channel.SLACK and delivery.step is not None:
        return slack_dm.send(delivery)
    if delivery.channel == Channel.EMAIL:
        subject = (
            f"[{incident.severity}] {incident.reference} {incident.title} · "
            f"L{delivery.page.level} paged"
        )
        body = (
            f"{incident.reference} {incident.title}\n"
            f"Severity: {incident.get_severity_display()}\n"
            f"Status: {incident.get_status_display()}\n"
            f"Paged: L{delivery.page.level} {delivery.page.name}\n"
            f"Declared: {incident.declared_at:%Y-%m-%d %H:%M %Z}\n\n"
            f"Acknowledge: {incident_url(incident)}\n"
        )
        try:
            send_mail(subject, body, None, [delivery.target], fail_silently=False)
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, OSError) as exc:
            raise Transient(f"{type(exc).__name__}: {exc}") from exc
        except smtplib.SMTPException as exc:
            raise Permanent(f"{type(exc).__name__}: {exc}") from exc
        return None
    people = _page_people(delivery)
    if delivery.channel == Channel.SLACK:
        from incidents.escalation.contacts import ContactMethod

        # A verified Slack contact method, else the profile's member id.
        verified = dict(
            ContactMethod.objects.filter(
                user__in=people, kind=ContactMethod.Kind.SLACK, verified_at__isnull=False
            ).values_list("user_id", "address")
        )
        mentions = []
        for person in people:
            try:
                member = person.notification_profile.slack_member_id
            except NotificationProfile.DoesNotExist:
                member = ""
            member = verified.get(person.pk) or member
            if member:
                mentions.append(member)
        body = json.dumps(slack_payload(delivery, mentions)).encode()
        return _post(settings.SLACK_WEBHOOK_URL, body, {})
    body = json.dumps(
        webhook_payload(delivery, [p.get_username() for p in people]), separators=(",", ":")
    ).encode()
    timestamp = str(int(time.time()))
    return _post(
        settings.ESCALATION_WEBHOOK_URL,
        body,
        {
            "X-Console-Timestamp": timestamp,
            "X-Console-Signature": signature(settings.ESCALATION_WEBHOOK_SECRET, timestamp, body),
        },
    )


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
