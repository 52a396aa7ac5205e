"""PagerDuty's Events API: version 2 (`POST /v2/enqueue`) and the legacy version 1
(`POST /generic/2010-04-15/create_event.json`), as monitoring tools send them to PagerDuty.

v2: {"routing_key", "event_action": "trigger"|"acknowledge"|"resolve", "dedup_key",
     "payload": {"summary", "source", "severity", "timestamp", "component", "group", "class",
                 "custom_details"}, "links": [{"href", "text"}], "images": [{"src", "href",
     "alt"}], "client", "client_url"}
v1: {"service_key", "event_type": "trigger"|"acknowledge"|"resolve", "incident_key",
     "description", "details", "client", "client_url"}

One alert per event, keyed on its dedup_key (v1: incident_key): a trigger opens or joins the
incident of that key, acknowledge acknowledges it (as the integration), resolve resolves the
alert. The hook answers as PagerDuty does (see intake/pagerduty_api.py); errors are collected
the way PagerDuty lists them, all at once.

Severity: critical → P1 (P0 when the integration's default severity is P0), error → P2 (P1
when the default is P0 or P1), warning → P2, info → P3. Routing rules can override; they see
`payload.source`, `payload.component`, `payload.group`, `payload.class`, `payload.severity`
and `custom_details.<name>`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from incidents.intake.formats.base import Alert, Reading, Refusal, digest, load_json, rfc3339

if TYPE_CHECKING:
    from incidents.intake.models import Integration

LABEL = "PagerDuty Events API"
SHORT = "PagerDuty"
HELP = (
    "Anything that sends to PagerDuty (Events API v2, v1, change events): point its URL at "
    "the console and use the routing key shown once at creation."
)
ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
MAX_SUMMARY = 1024
MAX_DEDUP = 255


class Invalid(Refusal):
    """PagerDuty's 400: every error found, listed."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def severity_for(pd_severity: str, integration: Integration) -> str:
    high = integration.default_severity in ("P0", "P1")
    return {
        "critical": "P0" if integration.default_severity == "P0" else "P1",
        "error": "P1" if high else "P2",
        "warning": "P2",
        "info": "P3",
    }[pd_severity]


def is_v1(document: dict) -> bool:
    return "event_type" in document or ("service_key" in document and "routing_key" not in document)


def read(body: bytes, integration: Integration) -> Reading:
    document = load_json(body)
    if is_v1(document):
        return read_v1(document, integration)
    return read_v2(document, integration)


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def read_v2(document: dict, integration: Integration) -> Reading:
    errors: list[str] = []
    action = document.get("event_action")
    if action not in ACTIONS:
        errors.append("'event_action' is missing or invalid (trigger, acknowledge or resolve)")
    dedup = document.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or not dedup or len(dedup) > MAX_DEDUP):
        errors.append(f"'dedup_key' must be a string of 1 to {MAX_DEDUP} characters")
    if action in ("acknowledge", "resolve") and not dedup:
        errors.append(f"'dedup_key' is required for event_action {action}")
    payload = document.get("payload")
    links, images = document.get("links") or [], document.get("images") or []
    if not isinstance(links, list) or not all(
        isinstance(link, dict) and isinstance(link.get("href"), str) for link in links
    ):
        errors.append("'links' must be a list of objects with an 'href'")
        links = []
    if not isinstance(images, list) or not all(
        isinstance(image, dict) and isinstance(image.get("src"), str) for image in images
    ):
        errors.append("'images' must be a list of objects with a 'src'")
        images = []
    summary = source = pd_severity = ""
    custom: object = {}
    fields: dict[str, str] = {}
    starts_at = None
    if action == "trigger" or payload is not None:
        if not isinstance(payload, dict):
            errors.append("'payload' is missing or not an object")
            payload = {}
        summary, source = payload.get("summary"), payload.get("source")
        pd_severity = payload.get("severity")
        if not isinstance(summary, str) or not summary.strip():
            errors.append("'payload.summary' is missing or blank")
        elif len(summary) > MAX_SUMMARY:
            errors.append(f"'payload.summary' is longer than {MAX_SUMMARY} characters")
        if not isinstance(source, str) or not source.strip():
            errors.append("'payload.source' is missing or blank")
        if pd_severity not in SEVERITIES:
            errors.append("'payload.severity' must be one of critical, error, warning, info")
        for name in ("component", "group", "class"):
            value = payload.get(name)
            if value is not None and not isinstance(value, str):
                errors.append(f"'payload.{name}' must be a string")
            elif value:
                fields[name] = value
        custom = payload.get("custom_details") or {}
        try:
            starts_at = rfc3339(payload.get("timestamp"), "'payload.timestamp'")
        except Refusal as exc:
            errors.append(exc.reason)
    if errors:
        raise Invalid(errors)
    summary, source = (summary or "").strip(), (source or "").strip()
    dedup = dedup or ""
    labels = {"source": source, **fields} if source else dict(fields)
    if pd_severity:
        labels["severity"] = pd_severity
    annotations = {"summary": summary} if summary else {}
    if isinstance(custom, dict):
        annotations |= {str(k): _text(v) for k, v in custom.items()}
    elif custom:
        annotations["custom_details"] = _text(custom)
    # Links and images are shown with the alert on the incident (as "<text>_url" entries).
    for number, link in enumerate(links, start=1):
        text = link.get("text") if isinstance(link.get("text"), str) else ""
        annotations[f"{(text.strip() or f'link {number}')[:60]}_url"] = link["href"]
    for number, image in enumerate(images, start=1):
        target = image.get("href") if isinstance(image.get("href"), str) else image["src"]
        annotations["image_url" if number == 1 else f"image {number}_url"] = target
    client_url = document.get("client_url") if isinstance(document.get("client_url"), str) else ""
    alert = Alert(
        group_key=f"pagerduty:{integration.pk}:{digest(dedup)}",
        title=summary or dedup,
        name=summary or dedup,
        status="resolved" if action == "resolve" else "firing",
        fingerprint=f"pd-{digest(dedup)[:24]}",
        labels=labels,
        annotations=annotations,
        starts_at=None,
        source_url=client_url or next((link["href"] for link in links), ""),
        severity=severity_for(pd_severity, integration) if pd_severity else "",
        summary=summary,
        receiver=str(document.get("client") or ""),
        fields={
            "payload": {"source": source, "severity": pd_severity or "", **fields},
            "custom_details": custom if isinstance(custom, dict) else {},
        },
        action="acknowledge" if action == "acknowledge" else "",
        data={
            "dedup_key": dedup,
            "links": links,
            "images": images,
            "timestamp": starts_at.isoformat() if starts_at else None,
        },
    )
    return Reading([alert])


V1_TYPES = ACTIONS


def read_v1(document: dict, integration: Integration) -> Reading:
    errors: list[str] = []
    event_type = document.get("event_type")
    if event_type not in V1_TYPES:
        errors.append("Event type is invalid (trigger, acknowledge or resolve)")
    key = document.get("incident_key")
    if key is not None and (not isinstance(key, str) or not key or len(key) > MAX_DEDUP):
        errors.append(f"incident_key must be a string of 1 to {MAX_DEDUP} characters")
    if event_type in ("acknowledge", "resolve") and not key:
        errors.append("incident_key is required")
    description = document.get("description")
    if event_type == "trigger" and (not isinstance(description, str) or not description.strip()):
        errors.append("description is missing or blank")
    elif description is not None and not isinstance(description, str):
        errors.append("description must be a string")
    details = document.get("details") or {}
    if errors:
        raise Invalid(errors)
    description = (description or "").strip()[:MAX_SUMMARY]
    key = key or ""
    annotations = {"summary": description} if description else {}
    if isinstance(details, dict):
        annotations |= {str(k): _text(v) for k, v in details.items()}
    else:
        annotations["details"] = _text(details)
    client_url = document.get("client_url") if isinstance(document.get("client_url"), str) else ""
    severity = ""
    if isinstance(details, dict) and details.get("severity") in SEVERITIES:
        severity = severity_for(details["severity"], integration)
    alert = Alert(
        group_key=f"pagerduty:{integration.pk}:{digest(key)}",
        title=description or key,
        name=description or key,
        status="resolved" if event_type == "resolve" else "firing",
        fingerprint=f"pd-{digest(key)[:24]}",
        annotations=annotations,
        source_url=client_url,
        severity=severity,
        summary=description,
        receiver=str(document.get("client") or ""),
        fields={"custom_details": details if isinstance(details, dict) else {}},
        action="acknowledge" if event_type == "acknowledge" else "",
        data={"dedup_key": key, "api": "v1"},
    )
    return Reading([alert])
