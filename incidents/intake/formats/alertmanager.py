"""Prometheus Alertmanager's webhook (version 4, and 3): one group of alerts per delivery.

The group's key is its `groupKey` (without one: the alert name and the labels the group
shares); it is titled by the alert name and the summary (or description) the whole group
shares. Each alert is identified by its fingerprint and startsAt.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from incidents.intake.formats.base import (
    Alert,
    Reading,
    Refusal,
    digest,
    load_json,
    rfc3339,
    severity_of,
    string_map,
)

if TYPE_CHECKING:
    from incidents.intake.models import Integration

LABEL = "Prometheus Alertmanager"
SHORT = "Alertmanager"  # the list's narrow column
HELP = (
    "Prometheus Alertmanager's webhook receiver (version 4, and 3). "
    "Alerts grouped by Alertmanager join one incident; resolved alerts are recorded."
)


def read(body: bytes, integration: Integration) -> Reading:
    document = load_json(body)
    version = document.get("version")
    if version not in ("4", "3"):
        raise Refusal(
            f"Unsupported Alertmanager webhook version {str(version)[:20]!r} (need 4 or 3)."
        )
    alerts_in = document.get("alerts")
    if not isinstance(alerts_in, list) or not alerts_in:
        raise Refusal("alerts must be a non-empty list.")
    common_labels = string_map(document.get("commonLabels"), "commonLabels")
    group_labels = string_map(document.get("groupLabels"), "groupLabels")
    common_annotations = string_map(document.get("commonAnnotations"), "commonAnnotations")
    group_key = document.get("groupKey")
    # Version 3 (Alertmanager before 0.16) sends the group key as a number.
    if isinstance(group_key, int) and not isinstance(group_key, bool):
        group_key = str(group_key)
    if group_key is not None and not isinstance(group_key, str):
        raise Refusal("groupKey must be a string (or, in version 3, a number).")
    status = document.get("status")
    if status not in (None, "firing", "resolved"):
        raise Refusal("status must be firing or resolved.")
    truncated = document.get("truncatedAlerts") or 0
    if isinstance(truncated, bool) or not isinstance(truncated, int) or truncated < 0:
        raise Refusal("truncatedAlerts must be a whole number ≥ 0.")
    for index, raw in enumerate(alerts_in):
        if not isinstance(raw, dict):
            raise Refusal(f"alerts[{index}] must be an object.")
    first_labels = string_map(alerts_in[0].get("labels"), "alerts[0].labels")
    name = first_labels.get("alertname") or common_labels.get("alertname") or "alert"
    # Without a groupKey: the alert name and the labels the group shares.
    key_source = group_key or json.dumps(
        {"alertname": name, **(group_labels or common_labels)}, sort_keys=True
    )
    # Only what the whole group shares names it: one alert's summary would speak for all.
    summary = common_annotations.get("summary") or common_annotations.get("description") or ""
    title = f"{name}: {summary}" if summary else name
    group = {
        "group_key": f"alertmanager:{integration.pk}:{digest(key_source)}",
        "title": title,
        "summary": common_annotations.get("description") or summary,
        "receiver": str(document.get("receiver") or ""),
    }
    alerts = [
        group_alert(
            raw,
            f"alerts[{index}]",
            group=group,
            name=name,
            status=status,
            common_labels=common_labels,
            common_annotations=common_annotations,
        )
        for index, raw in enumerate(alerts_in)
    ]
    if truncated:
        # max_alerts cut the list: say so where responders look, once per delivery.
        more = f"{truncated} more alert{'s' if truncated != 1 else ''} not sent by Alertmanager"
        head = alerts[0]
        head.note = f"{head.name} firing" + (f": {summary}" if summary else "") + f" ({more})"
        for alert in alerts:
            alert.data["truncated_alerts"] = truncated
            alert.summary = f"{alert.summary} ({more})".strip() if alert.summary else more
    return Reading(alerts)


def group_alert(
    raw: dict,
    where: str,
    *,
    group: dict,
    name: str,
    status: str | None,
    common_labels: dict[str, str],
    common_annotations: dict[str, str],
    more_annotations: dict[str, str] | None = None,
    **fields,
) -> Alert:
    """One alert of an Alertmanager-shaped group (Alertmanager's, Grafana's): its labels and
    annotations over the group's common ones, then `more_annotations`; `fields` go to the
    Alert as they are."""
    # Older senders leave the alert's status out: it is the group's.
    alert_status = raw.get("status") or status
    if alert_status not in ("firing", "resolved"):
        raise Refusal(f"{where}.status must be firing or resolved (or the group's status given).")
    labels = {**string_map(raw.get("labels"), f"{where}.labels"), **common_labels}
    annotations = {
        **string_map(raw.get("annotations"), f"{where}.annotations"),
        **common_annotations,
        **(more_annotations or {}),
    }
    fingerprint = raw.get("fingerprint") or ""
    if not isinstance(fingerprint, str):
        raise Refusal(f"{where}.fingerprint must be a string.")
    url = raw.get("generatorURL") or ""
    return Alert(
        **group,
        name=labels.get("alertname") or name,
        status=alert_status,
        fingerprint=fingerprint,
        labels=labels,
        annotations=annotations,
        starts_at=rfc3339(raw.get("startsAt"), f"{where}.startsAt"),
        ends_at=rfc3339(raw.get("endsAt"), f"{where}.endsAt"),
        source_url=url if isinstance(url, str) else "",
        severity=severity_of(labels.get("severity")),
        service=labels.get("service", ""),
        **fields,
    )
