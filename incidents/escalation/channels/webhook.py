"""The generic webhook: JSON signed with HMAC-SHA256 over "<timestamp>.<body>"."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from django.conf import settings

from incidents.escalation.channels import incident_url, page_people, post


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def webhook_payload(delivery, usernames: list[str]) -> dict:
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


def send(delivery) -> int:
    people = page_people(delivery)
    body = json.dumps(
        webhook_payload(delivery, [p.get_username() for p in people]), separators=(",", ":")
    ).encode()
    timestamp = str(int(time.time()))
    return post(
        settings.ESCALATION_WEBHOOK_URL,
        body,
        {
            "X-Console-Timestamp": timestamp,
            "X-Console-Signature": signature(settings.ESCALATION_WEBHOOK_SECRET, timestamp, body),
        },
    )
