"""Opsgenie's Alert API, as Alertmanager's `opsgenie_configs` and other Opsgenie senders call
it (`intake/opsgenie_api.py` takes the requests; they are stored as one envelope each):

    {"action": "create", "body": {"message", "alias", "description", "details", "source",
                                  "tags", "priority": "P1".."P5", "entity", "note", "user"}}
    {"action": "close" | "acknowledge", "identifier": "<alias>", "identifierType": "alias",
     "body": {"source", "user", "note"}}

create opens or joins the incident of its alias (Opsgenie's deduplication key); close
resolves the alert; acknowledge acknowledges the incident as the integration.

Priority: P1 → P0, P2 → P1, P3 → P2, P4 and P5 → P3; none → the integration's default.
Routing rules see `tags` (comma-joined), `tag.<name>` (exists), `priority`, `entity`,
`source` and `details.<key>`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from incidents.intake.formats.base import Alert, Reading, Refusal, digest, load_json

if TYPE_CHECKING:
    from incidents.intake.models import Integration

LABEL = "Opsgenie Alert API"
SHORT = "Opsgenie"
HELP = (
    "Anything that sends to Opsgenie (Alertmanager's opsgenie_configs, Grafana, scripts): set "
    "its API URL to the console and use the API key shown once at creation."
)
PRIORITIES = {"P1": "P0", "P2": "P1", "P3": "P2", "P4": "P3", "P5": "P3"}
LIMITS = {"message": 130, "alias": 512, "description": 15000, "source": 100, "entity": 512,
          "note": 25000, "user": 100}  # fmt: skip
ACTIONS = ("create", "close", "acknowledge")


class Unprocessable(Refusal):
    """Opsgenie's 422: the field errors, by field."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()), status=422)
        self.errors = errors


def _string(body: dict, name: str, errors: dict, required: bool = False) -> str:
    value = body.get(name)
    if value is None or value == "":
        if required:
            errors[name] = f"{name.capitalize()} can not be empty."
        return ""
    if not isinstance(value, str):
        errors[name] = f"{name.capitalize()} must be a string."
        return ""
    if len(value) > LIMITS[name]:
        errors[name] = f"{name.capitalize()} can not be longer than {LIMITS[name]} characters."
    return value


def read(body: bytes, integration: Integration) -> Reading:
    envelope = load_json(body)
    action = envelope.get("action")
    request = envelope.get("body")
    if action not in ACTIONS or not isinstance(request, dict):
        raise Refusal("Not an Opsgenie request envelope: action and body are required.")
    if action == "create":
        return read_create(request, integration)
    alias = envelope.get("identifier")
    if envelope.get("identifierType") != "alias" or not isinstance(alias, str) or not alias:
        raise Unprocessable({"identifierType": "Only identifierType=alias is supported here."})
    errors: dict[str, str] = {}
    for name in ("source", "user", "note"):
        _string(request, name, errors)
    if errors:
        raise Unprocessable(errors)
    alert = Alert(
        group_key=f"opsgenie:{integration.pk}:{digest(alias)}",
        title=alias,
        name="",
        status="resolved" if action == "close" else "firing",
        fingerprint=f"og-{digest(alias)[:24]}",
        action="acknowledge" if action == "acknowledge" else "",
        data={"alias": alias, "note": request.get("note") or "", "user": request.get("user") or ""},
    )
    return Reading([alert])


def read_create(request: dict, integration: Integration) -> Reading:
    errors: dict[str, str] = {}
    message = _string(request, "message", errors, required=True)
    alias = _string(request, "alias", errors)
    description = _string(request, "description", errors)
    source = _string(request, "source", errors)
    entity = _string(request, "entity", errors)
    note = _string(request, "note", errors)
    priority = request.get("priority")
    if priority is not None and priority not in PRIORITIES:
        errors["priority"] = "Priority should be one of these: 'P1', 'P2', 'P3', 'P4' and 'P5'"
    tags = request.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags) or len(tags) > 20:
        errors["tags"] = "Tags must be a list of at most 20 strings."
        tags = []
    details = request.get("details") or {}
    if not isinstance(details, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in details.items()
    ):
        errors["details"] = "Details must be an object of strings."
        details = {}
    if errors:
        raise Unprocessable(errors)
    # The view gives every create an alias (Opsgenie dedupes on it; without one, a new alert).
    alias = alias or message
    labels = {"source": source, "entity": entity, "priority": priority or ""}
    labels = {k: v for k, v in labels.items() if v} | {f"tag:{t}": "true" for t in tags}
    annotations = {"summary": message, **details}
    if description:
        annotations["description"] = description
    alert = Alert(
        group_key=f"opsgenie:{integration.pk}:{digest(alias)}",
        title=message,
        name=message,
        status="firing",
        fingerprint=f"og-{digest(alias)[:24]}",
        labels=labels,
        annotations=annotations,
        severity=PRIORITIES.get(priority or "", ""),
        summary=description,
        receiver=source,
        fields={
            "tags": ",".join(tags),
            "tag": {t: "true" for t in tags},
            "priority": priority or "",
            "entity": entity,
            "source": source,
            "details": details,
        },
        note=f"{message}" + (f" — {note}" if note else ""),
        data={"alias": alias, "tags": tags, "priority": priority or "", "entity": entity},
    )
    return Reading([alert])
