"""Grafana alerting's webhook contact point (`/hooks/grafana/<token>/`), version "1":

    {"receiver", "status": "firing"|"resolved", "state": "alerting"|"ok"|…, "orgId", "title",
     "message", "groupKey", "groupLabels", "commonLabels", "commonAnnotations", "externalURL",
     "truncatedAlerts", "alerts": [{"status", "labels", "annotations", "startsAt", "endsAt",
     "generatorURL", "fingerprint", "silenceURL", "dashboardURL", "panelURL", "values",
     "valueString", "imageURL"}]}

One group per delivery (Grafana groups as Alertmanager does), keyed on orgId + groupKey.
Each alert's dashboard, panel, silence and image links and its values are kept with it and
shown on the incident; routing rules see its labels (`labels.<name>`), `state` and `orgId`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from incidents.intake.formats.alertmanager import group_alert
from incidents.intake.formats.base import (
    Reading,
    Refusal,
    digest,
    load_json,
    string_map,
)

if TYPE_CHECKING:
    from incidents.intake.models import Integration

LABEL = "Grafana alerting"
SHORT = "Grafana"
HELP = (
    "Grafana's webhook contact point: alert groups open incidents with their dashboard, "
    "panel, silence and image links."
)
LINKS = {
    "dashboardURL": "dashboard_url",
    "panelURL": "panel_url",
    "silenceURL": "silence_url",
    "imageURL": "image_url",
}


def read(body: bytes, integration: Integration) -> Reading:
    document = load_json(body)
    if document.get("version") != "1":
        raise Refusal(
            f'Unsupported Grafana webhook version {str(document.get("version"))[:20]!r} (need "1").'
        )
    alerts_in = document.get("alerts")
    if not isinstance(alerts_in, list) or not alerts_in:
        raise Refusal("alerts must be a non-empty list.")
    status = document.get("status")
    if status not in (None, "firing", "resolved"):
        raise Refusal("status must be firing or resolved.")
    state = document.get("state") or ""
    if not isinstance(state, str):
        raise Refusal("state must be a string (alerting, ok, …).")
    org = document.get("orgId", 0)
    if isinstance(org, bool) or not isinstance(org, int):
        raise Refusal("orgId must be a number.")
    group_key = document.get("groupKey") or ""
    if not isinstance(group_key, str):
        raise Refusal("groupKey must be a string.")
    common_labels = string_map(document.get("commonLabels"), "commonLabels")
    group_labels = string_map(document.get("groupLabels"), "groupLabels")
    common_annotations = string_map(document.get("commonAnnotations"), "commonAnnotations")
    title_in = document.get("title") or ""
    message = document.get("message") or ""
    if not isinstance(title_in, str) or not isinstance(message, str):
        raise Refusal("title and message must be strings.")
    for index, raw in enumerate(alerts_in):
        if not isinstance(raw, dict):
            raise Refusal(f"alerts[{index}] must be an object.")
    first = string_map(alerts_in[0].get("labels"), "alerts[0].labels")
    name = first.get("alertname") or common_labels.get("alertname") or title_in or "alert"
    key_source = json.dumps(
        {"org": org, "group": group_key or {"alertname": name, **group_labels}}, sort_keys=True
    )
    summary = common_annotations.get("summary") or common_annotations.get("description") or ""
    group = {
        "group_key": f"grafana:{integration.pk}:{digest(key_source)}",
        "title": f"{name}: {summary}" if summary else name,
        "summary": common_annotations.get("description") or summary or title_in,
        "receiver": str(document.get("receiver") or ""),
    }
    alerts = []
    for index, raw in enumerate(alerts_in):
        where = f"alerts[{index}]"
        more = {}
        for field_name, key in LINKS.items():
            value = raw.get(field_name) or ""
            if not isinstance(value, str):
                raise Refusal(f"{where}.{field_name} must be a string.")
            if value:
                more[key] = value
        values = raw.get("values")
        if values is not None and not isinstance(values, dict):
            raise Refusal(f"{where}.values must be an object.")
        if values:
            more["values"] = ", ".join(f"{k} = {v}" for k, v in sorted(values.items()))
        alerts.append(
            group_alert(
                raw,
                where,
                group=group,
                name=name,
                status=status,
                common_labels=common_labels,
                common_annotations=common_annotations,
                more_annotations=more,
                fields={"state": state, "orgId": str(org)},
                data={"grafana_title": title_in, "state": state, "values": values or {}},
            )
        )
    return Reading(alerts)
