"""Paging channels, one module each. `send(delivery)` delivers one NotificationDelivery and
returns the HTTP status (raising notify.Transient or notify.Permanent); providers that call
back (Twilio, ntfy's action, Slack's buttons) have their signed inbound views in `hooks.py`.

email, slack (incoming webhook) and webhook are sent by `notify` itself; sms, voice and push
live here, with the Twilio REST client they share."""

from __future__ import annotations

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
