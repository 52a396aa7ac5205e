"""Push pages through ntfy's publish protocol (JSON published to the server's root URL):
priority by severity, the incident as the click target, and an "Acknowledge" http action that
POSTs to a signed, single-use, expiring console URL."""

from __future__ import annotations

import json

from django.conf import settings
from django.urls import reverse

from incidents.escalation.channels import ACK_SALT, public_url, sign

# ntfy priorities: 5 max/urgent … 1 min.
PRIORITY = {"P0": 5, "P1": 4, "P2": 3, "P3": 2}


def missing() -> str:
    return "" if settings.NTFY_BASE_URL else "NTFY_BASE_URL is not set"


def ack_url(delivery) -> str:
    return public_url(reverse("ntfy_ack", args=[sign(ACK_SALT, {"d": delivery.pk})]))


def message(delivery) -> dict:
    from incidents.escalation.channels import incident_url

    incident, page = delivery.incident, delivery.page
    link = incident_url(incident)
    return {
        "topic": delivery.target,
        "title": f"{incident.severity} {incident.reference} · L{page.level} paged",
        "message": f"{incident.title}\nStatus: {incident.get_status_display()}",
        "priority": PRIORITY.get(incident.severity, 3),
        "tags": ["rotating_light" if incident.severity in ("P0", "P1") else "warning"],
        "click": link,
        "actions": [
            {
                "action": "http",
                "label": "Acknowledge",
                "url": ack_url(delivery),
                "method": "POST",
                "clear": True,
            },
            {"action": "view", "label": "Open", "url": link},
        ],
    }


def publish(payload: dict) -> tuple[int, dict]:
    from incidents.escalation.channels import Permanent
    from incidents.escalation.channels import post as _post

    reason = missing()
    if reason:
        raise Permanent(reason)
    headers = {"Authorization": f"Bearer {settings.NTFY_TOKEN}"} if settings.NTFY_TOKEN else {}
    code, text = _post(
        settings.NTFY_BASE_URL.rstrip("/") + "/",
        json.dumps(payload).encode(),
        headers,
        with_text=True,
    )
    try:
        return code, json.loads(text)
    except ValueError:
        return code, {}


def send(delivery) -> int:
    from incidents.escalation.channels.sms import remember

    code, body = publish(message(delivery))
    remember(delivery, {"sid": body.get("id", ""), "status": "published"})
    return code
