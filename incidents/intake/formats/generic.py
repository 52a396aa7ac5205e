"""The generic JSON format: one alert per delivery, for scripts, cron jobs and tools.

    {"title": "…", "severity": "P1"|"high"|…, "status": "firing"|"resolved",
     "service": "checkout", "dedup_key": "…", "details": {…}, "url": "https://…"}

Only `title` is required (at most 300 characters; over 200 it is cut on the incident and kept
whole in the alert's details). `dedup_key` (default: the title) names the incident.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from incidents.intake.formats.base import Alert, Reading, Refusal, digest, load_json, severity_of

if TYPE_CHECKING:
    from incidents.intake.models import Integration

LABEL = "Generic JSON"
SHORT = "Generic JSON"  # the list's narrow column
HELP = (
    "Any script, cron job or tool: POST a JSON object with a title "
    "(and optionally severity, service, dedup_key, details, url)."
)
MAX_TITLE = 300
DATADOG_TRANSITIONS = {
    "triggered": "firing",
    "re-triggered": "firing",
    "warn": "firing",
    "re-warn": "firing",
    "no data": "firing",
    "re-no data": "firing",
    "recovered": "resolved",
}


def read(body: bytes, integration: Integration) -> Reading:
    document = load_json(body)
    title = document.get("title")
    if not isinstance(title, str) or not title.strip():
        raise Refusal("title is required: a non-empty string.")
    title = title.strip()
    if len(title) > MAX_TITLE:
        raise Refusal(f"title is longer than {MAX_TITLE} characters.")
    raw_severity = document.get("severity")
    severity = severity_of(raw_severity)
    if raw_severity not in (None, "") and not severity:
        raise Refusal("severity must be P0–P3 or critical, high, medium, low.")
    status = document.get("status", "firing")
    # Datadog's webhook template variable $ALERT_TRANSITION, taken as it comes.
    if isinstance(status, str) and status.lower() in DATADOG_TRANSITIONS:
        status = DATADOG_TRANSITIONS[status.lower()]
    if status not in ("firing", "resolved"):
        raise Refusal("status must be firing or resolved.")
    service = document.get("service") or ""
    if not isinstance(service, str):
        raise Refusal("service must be a string (a service's name).")
    dedup = document.get("dedup_key") or ""
    if not isinstance(dedup, str) or len(dedup) > 200:
        raise Refusal("dedup_key must be a string of at most 200 characters.")
    details = document.get("details") or {}
    if not isinstance(details, dict):
        raise Refusal("details must be an object.")
    url = document.get("url") or ""
    identity = dedup or title
    labels = {"alertname": title}
    if service:
        labels["service"] = service
    if severity:
        labels["severity"] = severity
    annotations = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in details.items()}
    alert = Alert(
        group_key=f"generic:{integration.pk}:{digest(identity)}",
        title=title,
        name=title,
        status=status,
        fingerprint=f"generic-{digest(identity)[:24]}",
        labels=labels,
        annotations=annotations,
        source_url=url if isinstance(url, str) else "",
        severity=severity,
        service=service,
        summary=str(details.get("summary") or details.get("description") or ""),
    )
    return Reading([alert])
