"""Paging channels, one module each (email, slack, slack_dm, webhook, sms, voice, push):
`send(delivery)` delivers one NotificationDelivery and returns the HTTP status (None for
email), raising Transient or Permanent. Providers that call back (Twilio, ntfy's action,
Slack's buttons) have their signed inbound views in `hooks.py`. `notify` claims, sends
through the channel's module and records the outcome."""

from __future__ import annotations

import httpx
from django.conf import settings
from django.core import signing

# Signed links in messages: the salt names what the link may do.
VOICE_SALT = "paging.voice"
SAY_SALT = "paging.say"
ACK_SALT = "paging.ack"


def public_url(path: str) -> str:
    return settings.CONSOLE_BASE_URL.rstrip("/") + path


def sign(salt: str, data: dict) -> str:
    return signing.dumps(data, salt=salt, compress=True)


def unsign(salt: str, token: str) -> dict | None:
    """The signed data, or None when forged or older than PAGING_LINK_MAX_AGE."""
    try:
        return signing.loads(token, salt=salt, max_age=settings.PAGING_LINK_MAX_AGE)
    except signing.BadSignature:
        return None


class Transient(Exception):
    """Worth retrying: the network, or the other side's 5xx/429."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


class Permanent(Exception):
    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


def incident_url(incident) -> str:
    return settings.CONSOLE_BASE_URL.rstrip("/") + incident.get_absolute_url()


def page_people(delivery) -> list:
    """The people the delivery's page reached, in the order they were paged."""
    from django.contrib.auth import get_user_model

    ids = list(delivery.page.recipients)
    found = {
        u.pk: u
        for u in get_user_model().objects.filter(pk__in=ids).select_related("notification_profile")
    }
    return [found[pk] for pk in ids if pk in found]


def post(url: str, body: bytes, headers: dict, with_text: bool = False):
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
