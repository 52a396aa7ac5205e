"""Reading deliveries: Alertmanager's webhook (version 4, and 3) and the generic JSON format,
validated into one shape, `Group`. A payload that doesn't fit raises PayloadError with a reason
the sender can act on (the view answers 400 with it)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime

from django.utils.dateparse import parse_datetime

from incidents.models import Severity

MAX_TITLE = 300
SEVERITY_WORDS = {
    "critical": Severity.P0,
    "high": Severity.P1,
    "error": Severity.P1,
    "warning": Severity.P2,
    "medium": Severity.P2,
    "low": Severity.P3,
    "info": Severity.P3,
}
# Alertmanager's "zero" time: an alert with no end yet.
ZERO_TIME = "0001-01-01T00:00:00Z"


class PayloadError(ValueError):
    pass


@dataclass
class AlertIn:
    name: str
    status: str
    labels: dict
    annotations: dict
    starts_at: datetime | None
    ends_at: datetime | None
    fingerprint: str
    source_url: str

    @property
    def key(self) -> str:
        """The alert's identity across deliveries: fingerprint + startsAt, or its labels."""
        start = self.starts_at.isoformat() if self.starts_at else ""
        if self.fingerprint:
            return f"{self.fingerprint[:64]}:{start}"[:128]
        return f"labels:{digest(self.labels)}:{start}"[:128]


@dataclass
class Group:
    """What one delivery says: a group of alerts and the key of the incident it belongs to."""

    dedup_key: str
    title: str
    status: str
    alerts: list[AlertIn]
    labels: dict = field(default_factory=dict)
    annotations: dict = field(default_factory=dict)
    severity: str = ""
    service: str = ""
    summary: str = ""
    source_url: str = ""
    receiver: str = ""

    def context(self) -> dict:
        """What routing rules match on (see routing.field_value)."""
        return {
            "labels": self.labels,
            "annotations": self.annotations,
            "title": self.title,
            "status": self.status,
            "severity": self.severity,
            "service": self.service,
            "receiver": self.receiver,
        }


def digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:40]


def load_json(body: bytes) -> dict:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"The body is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise PayloadError("The body must be a JSON object.")
    return document


def severity_of(value: object) -> str:
    """P0–P3 as such, or a word (critical/high/medium/low, warning/info); '' if unknown."""
    if not isinstance(value, str):
        return ""
    text = value.strip()
    if text.upper() in Severity.values:
        return text.upper()
    return SEVERITY_WORDS.get(text.lower(), "")


def _string_map(value: object, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise PayloadError(f"{what} must be an object of strings.")
    return value


def _time(value: object, what: str) -> datetime | None:
    if value in (None, "", ZERO_TIME):
        return None
    if not isinstance(value, str):
        raise PayloadError(f"{what} must be an RFC 3339 time.")
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise PayloadError(f"{what} must be an RFC 3339 time with a zone, not {value!r}.")
    return None if parsed.year <= 1 else parsed


def alertmanager(document: dict, integration_id: int) -> Group:
    version = document.get("version")
    if version not in ("4", "3"):
        raise PayloadError(f"Unsupported Alertmanager webhook version {version!r} (need 4 or 3).")
    alerts_in = document.get("alerts")
    if not isinstance(alerts_in, list) or not alerts_in:
        raise PayloadError("alerts must be a non-empty list.")
    common_labels = _string_map(document.get("commonLabels"), "commonLabels")
    group_labels = _string_map(document.get("groupLabels"), "groupLabels")
    common_annotations = _string_map(document.get("commonAnnotations"), "commonAnnotations")
    alerts = []
    for index, raw in enumerate(alerts_in):
        if not isinstance(raw, dict):
            raise PayloadError(f"alerts[{index}] must be an object.")
        status = raw.get("status")
        if status not in ("firing", "resolved"):
            raise PayloadError(f"alerts[{index}].status must be firing or resolved.")
        labels = _string_map(raw.get("labels"), f"alerts[{index}].labels")
        annotations = _string_map(raw.get("annotations"), f"alerts[{index}].annotations")
        fingerprint = raw.get("fingerprint") or ""
        if not isinstance(fingerprint, str):
            raise PayloadError(f"alerts[{index}].fingerprint must be a string.")
        alerts.append(
            AlertIn(
                name=labels.get("alertname") or common_labels.get("alertname") or "alert",
                status=status,
                labels=labels,
                annotations=annotations,
                starts_at=_time(raw.get("startsAt"), f"alerts[{index}].startsAt"),
                ends_at=_time(raw.get("endsAt"), f"alerts[{index}].endsAt"),
                fingerprint=fingerprint,
                source_url=str(raw.get("generatorURL") or "")[:1000],
            )
        )
    group_key = document.get("groupKey")
    if group_key is not None and not isinstance(group_key, str):
        raise PayloadError("groupKey must be a string.")
    # Without a groupKey: the alert name and the labels the group shares.
    key_source = group_key or json.dumps(
        {"alertname": alerts[0].name, **(group_labels or common_labels)}, sort_keys=True
    )
    labels = {**alerts[0].labels, **common_labels}
    annotations = {**alerts[0].annotations, **common_annotations}
    status = document.get("status") or (
        "firing" if any(a.status == "firing" for a in alerts) else "resolved"
    )
    name = labels.get("alertname") or alerts[0].name
    # Only what the whole group shares names it: one alert's summary would speak for all.
    summary = common_annotations.get("summary") or common_annotations.get("description") or ""
    title = f"{name}: {summary}" if summary else name
    return Group(
        dedup_key=f"alertmanager:{integration_id}:{digest(key_source)}",
        title=title[:MAX_TITLE],
        status=status,
        alerts=alerts,
        labels=labels,
        annotations=annotations,
        severity=severity_of(labels.get("severity")),
        service=labels.get("service", ""),
        summary=common_annotations.get("description") or summary,
        source_url=str(document.get("externalURL") or "")[:1000],
        receiver=str(document.get("receiver") or ""),
    )


def generic(document: dict, integration_id: int) -> Group:
    title = document.get("title")
    if not isinstance(title, str) or not title.strip():
        raise PayloadError("title is required: a non-empty string.")
    if len(title) > MAX_TITLE:
        raise PayloadError(f"title is longer than {MAX_TITLE} characters.")
    raw_severity = document.get("severity")
    severity = severity_of(raw_severity)
    if raw_severity not in (None, "") and not severity:
        raise PayloadError("severity must be P0–P3 or critical, high, medium, low.")
    status = document.get("status", "firing")
    if status not in ("firing", "resolved"):
        raise PayloadError("status must be firing or resolved.")
    service = document.get("service") or ""
    if not isinstance(service, str):
        raise PayloadError("service must be a string (a service's name).")
    dedup = document.get("dedup_key") or ""
    if not isinstance(dedup, str) or len(dedup) > 200:
        raise PayloadError("dedup_key must be a string of at most 200 characters.")
    details = document.get("details") or {}
    if not isinstance(details, dict):
        raise PayloadError("details must be an object.")
    identity = dedup or title.strip()
    labels = {"alertname": title.strip()[:200]}
    if service:
        labels["service"] = service
    if severity:
        labels["severity"] = severity
    annotations = {k: v if isinstance(v, str) else json.dumps(v) for k, v in details.items()}
    alert = AlertIn(
        name=title.strip()[:200],
        status=status,
        labels=labels,
        annotations=annotations,
        starts_at=None,
        ends_at=None,
        fingerprint=f"generic-{digest(identity)[:24]}",
        source_url=str(document.get("url") or "")[:1000],
    )
    return Group(
        dedup_key=f"generic:{integration_id}:{digest(identity)}",
        title=title.strip(),
        status=status,
        alerts=[alert],
        labels=labels,
        annotations=annotations,
        severity=severity,
        service=service,
        summary=str(details.get("summary") or details.get("description") or ""),
    )


READERS = {"alertmanager": alertmanager, "generic": generic}


def read(kind: str, body: bytes, integration_id: int) -> Group:
    return READERS[kind](load_json(body), integration_id)
