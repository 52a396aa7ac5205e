"""Filling a comms template with an incident's fields.

The team's templates mark blanks in several styles: `[Service Name]`, `{service}`,
`{{ service }}`, `<service>`. Blanks whose name we know are filled from the incident; the
others stay exactly as written, so the communicator sees what is left to fill in.
"""

from __future__ import annotations

import re
from datetime import datetime

from django.utils import timezone

from incidents.models import Incident

# [name], {{ name }}, {name}, <name> — one to sixty characters, no line breaks — and X%.
PLACEHOLDER = re.compile(
    r"\[(?P<square>[^\]\n]{1,60})\]"
    r"|\{\{\s*(?P<double>[\w .-]{1,60}?)\s*\}\}"
    r"|\{(?P<curly>[\w .-]{1,60})\}"
    r"|<(?P<angle>[A-Za-z_][\w .-]{0,40})>"
    r"|(?P<percent>\bX+%)"
)

# Normalised placeholder name → incident field. Names are lower-cased, with `_`, `-` and
# runs of spaces folded to one space.
ALIASES: dict[str, str] = {}
for field, names in {
    "service": [
        "service",
        "services",
        "service name",
        "affected service",
        "affected services",
        "component",
        "components",
        "system",
        "product",
        "feature",
    ],
    "impact": [
        "impact",
        "customer impact",
        "description of impact",
        "impact description",
        "what users experienced",
        "user impact",
    ],
    "status": ["status", "current status", "incident status"],
    "severity": ["severity", "sev", "priority", "incident severity"],
    "title": ["title", "incident", "incident title", "issue", "summary"],
    "started": [
        "time",
        "start",
        "start time",
        "started",
        "started at",
        "time started",
        "since",
        "incident start",
        "detected at",
    ],
    "date": ["date", "incident date", "day"],
    "ended": ["end", "end time", "ended", "resolved at", "resolution time"],
    "next_update": ["next update", "next update time", "next update at", "eta", "next"],
    "reference": ["reference", "ref", "incident id", "incident number", "id", "ticket"],
}.items():
    for name in names:
        ALIASES[name] = field


def normalise(name: str) -> str:
    return " ".join(name.replace("_", " ").replace("-", " ").split()).lower()


def _clock(at: datetime | None) -> str:
    if at is None:
        return ""
    return timezone.localtime(at).strftime("%H:%M %Z")


def incident_fields(incident: Incident, *, services=None, next_update_at=None) -> dict[str, str]:
    """The values a template can use; empty strings are left as blanks."""
    services = list(incident.services.all()) if services is None else services
    return {
        "service": ", ".join(s.display_name for s in services),
        "impact": incident.customer_impact.strip(),
        "status": incident.get_status_display(),
        "severity": incident.severity,
        "title": incident.title,
        "started": _clock(incident.declared_at),
        "date": timezone.localtime(incident.declared_at).strftime("%Y-%m-%d"),
        "ended": _clock(incident.resolved_at),
        "next_update": _clock(next_update_at),
        "reference": incident.reference,
    }


def placeholders(body: str) -> list[str]:
    """Every placeholder as written, in order of first appearance."""
    return list(dict.fromkeys(m.group(0) for m in PLACEHOLDER.finditer(body)))


def fill(body: str, fields: dict[str, str]) -> tuple[str, list[str]]:
    """(body with known placeholders filled, the placeholders left for a person)."""
    left: list[str] = []

    def replace(match: re.Match) -> str:
        name = next(g for g in match.groups() if g is not None)
        value = fields.get(ALIASES.get(normalise(name), ""), "")
        if value:
            return value
        if match.group(0) not in left:
            left.append(match.group(0))
        return match.group(0)

    return PLACEHOLDER.sub(replace, body), left
