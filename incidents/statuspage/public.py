"""The public status page's data: components, public incidents and their published updates.

Only what the communicator published leaves the console: update titles, statuses and
bodies, the public names of services, and times. Never notes, the timeline, or people.

The payload is built once per change. A version token in the cache is replaced when an
update is published or an incident's status or severity changes (after the commit) and when
a service is saved; the rendered bodies are cached under that version, so a hit costs no
database query at all.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Exists, OuterRef, Prefetch, Q
from django.utils import timezone

from incidents.models import Incident, Service, Severity, Status, TimelineEvent
from incidents.statuspage.models import StatusUpdate

HISTORY_DAYS = 90
CACHE_SECONDS = 300
VERSION_KEY = "statuspage:version"

# Severity of an open public incident → the state of the components it affects.
COMPONENT_STATUS = {
    Severity.P0: "major_outage",
    Severity.P1: "partial_outage",
    Severity.P2: "degraded_performance",
    Severity.P3: "degraded_performance",
}
COMPONENT_LABELS = {
    "operational": "Operational",
    "degraded_performance": "Degraded Performance",
    "partial_outage": "Partial Outage",
    "major_outage": "Major Outage",
}
COMPONENT_RANK = ["operational", "degraded_performance", "partial_outage", "major_outage"]
IMPACT = {
    Severity.P0: "critical",
    Severity.P1: "major",
    Severity.P2: "minor",
    Severity.P3: "minor",
}
IMPACT_RANK = ["none", "minor", "major", "critical"]
INDICATOR_DESCRIPTION = {
    "none": "All Systems Operational",
    "minor": "Minor Service Outage",
    "major": "Partial System Outage",
    "critical": "Major System Outage",
}
# Events after which the page may look different.
CHANGING_KINDS = {
    TimelineEvent.Kind.UPDATE_PUBLISHED,
    TimelineEvent.Kind.STATUS_CHANGED,
    TimelineEvent.Kind.RESOLVED,
    TimelineEvent.Kind.REOPENED,
    TimelineEvent.Kind.SEVERITY_CHANGED,
}


# -- cache versioning -------------------------------------------------------------------------
def version() -> str:
    token = cache.get(VERSION_KEY)
    if token is None:
        token = uuid.uuid4().hex[:12]
        cache.add(VERSION_KEY, token, None)
        token = cache.get(VERSION_KEY) or token
    return token


def bump() -> None:
    cache.set(VERSION_KEY, uuid.uuid4().hex[:12], None)


def on_incident_event(sender, event: TimelineEvent, **kwargs) -> None:
    if event.kind in CHANGING_KINDS:
        transaction.on_commit(bump)


def on_service_saved(sender, **kwargs) -> None:
    transaction.on_commit(bump)


@dataclass
class Rendered:
    body: bytes
    etag: str
    last_modified: datetime


def cached(kind: str, base_url: str, build) -> Rendered:
    """`build(summary) -> bytes`, cached per version, format and host (and day: the history
    window moves at midnight)."""
    now = timezone.now()
    key = f"statuspage:{kind}:{version()}:{base_url}:{now:%Y%m%d}"
    # Each process keeps what it served for the current version: a hit then costs one cache
    # round trip (the version) and no unpickling of the body.
    hit = _served.get(key)
    if hit is not None and (now - hit[0]).total_seconds() < CACHE_SECONDS:
        return hit[1]
    hit = cache.get(key)
    if hit is not None:
        _remember(key, hit, now)
        return hit
    data = summary(base_url, now)
    body = build(data)
    rendered = Rendered(
        body=body,
        etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
        last_modified=data["page"]["updated_at"],
    )
    cache.set(key, rendered, CACHE_SECONDS)
    _remember(key, rendered, now)
    return rendered


_served: dict[str, tuple[datetime, Rendered]] = {}


def _remember(key: str, rendered: Rendered, now: datetime) -> None:
    if len(_served) >= 32:  # old versions, other hosts: start over
        _served.clear()
    _served[key] = (now, rendered)


# -- the summary ------------------------------------------------------------------------------
def page_id() -> str:
    return settings.STATUS_PAGE_ID


def summary(base_url: str, now: datetime | None = None) -> dict:
    """Everything the page, status.json, incidents.json and the feed show (datetimes kept as
    datetimes). Four queries: services, incidents, their services, their updates with
    their components."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=HISTORY_DAYS)
    components = list(Service.objects.filter(public=True).order_by("position", "name"))
    published = StatusUpdate.objects.filter(incident=OuterRef("pk"))
    incidents = list(
        Incident.objects.filter(Exists(published))
        .filter(~Q(status=Status.RESOLVED) | Q(resolved_at__gte=cutoff))
        .prefetch_related(
            "services",
            Prefetch(
                "status_updates",
                queryset=StatusUpdate.objects.prefetch_related("components").order_by(
                    "-published_at", "-id"
                ),
                to_attr="published",
            ),
        )
        .order_by("-declared_at")
    )
    page_url = base_url + "/status/"
    component_state: dict[int, str] = {c.pk: "operational" for c in components}
    component_changed: dict[int, datetime] = {c.pk: c.updated_at for c in components}
    open_rows, history_rows = [], []
    newest = max([c.updated_at for c in components], default=None)
    for incident in incidents:
        updates = incident.published
        latest = updates[0]
        affected = {s.pk: s for s in incident.services.all()}
        for update in updates:
            affected.update({s.pk: s for s in update.components.all()})
        is_open = incident.status != Status.RESOLVED
        if is_open:
            state = COMPONENT_STATUS[Severity(incident.severity)]
            for pk in affected:
                if pk in component_state and COMPONENT_RANK.index(state) > COMPONENT_RANK.index(
                    component_state[pk]
                ):
                    component_state[pk] = state
                    component_changed[pk] = max(component_changed[pk], latest.published_at)
        updated_at = max(latest.published_at, incident.resolved_at or latest.published_at)
        newest = max(newest or updated_at, updated_at)
        row = {
            "id": str(incident.pk),
            "name": latest.title,
            "status": latest.status if is_open else Status.RESOLVED.value,
            "status_label": Status(latest.status if is_open else Status.RESOLVED).label,
            "impact": IMPACT[Severity(incident.severity)],
            "created_at": updates[-1].published_at,
            "updated_at": updated_at,
            "started_at": incident.declared_at,
            "monitoring_at": next(
                (u.published_at for u in reversed(updates) if u.status == Status.MONITORING),
                None,
            ),
            "resolved_at": None if is_open else incident.resolved_at,
            "shortlink": f"{page_url}#incident-{incident.pk}",
            "components": [s for s in affected.values() if s.public],
            "updates": [
                {
                    "id": str(u.pk),
                    "status": u.status,
                    "status_label": u.get_status_display(),
                    "body": u.body,
                    "title": u.title,
                    "incident_id": str(incident.pk),
                    "at": u.published_at,
                    "components": [c for c in u.components.all() if c.public],
                }
                for u in updates
            ],
        }
        (open_rows if is_open else history_rows).append(row)

    worst = max((row["impact"] for row in open_rows), key=IMPACT_RANK.index, default="none")
    history_rows.sort(key=lambda r: r["resolved_at"], reverse=True)
    return {
        "page": {
            "id": page_id(),
            "name": settings.STATUS_PAGE_NAME,
            "url": page_url,
            "time_zone": settings.TIME_ZONE,
            "updated_at": newest or now,
        },
        "components": [
            {
                "service": c,
                "status": component_state[c.pk],
                "status_label": COMPONENT_LABELS[component_state[c.pk]],
                "updated_at": component_changed[c.pk],
            }
            for c in components
        ],
        "incidents": open_rows,
        "history": history_rows,
        "status": {"indicator": worst, "description": INDICATOR_DESCRIPTION[worst]},
        "now": now,
        "history_days": HISTORY_DAYS,
    }


# -- Statuspage v2 JSON -----------------------------------------------------------------------
def _iso(at: datetime | None) -> str | None:
    if at is None:
        return None
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _component_json(row: dict, pid: str) -> dict:
    service = row["service"]
    return {
        "id": str(service.pk),
        "name": service.display_name,
        "status": row["status"],
        "created_at": _iso(service.created_at),
        "updated_at": _iso(row["updated_at"]),
        "position": service.position,
        "description": service.public_description or None,
        "showcase": True,
        "start_date": service.created_at.date().isoformat(),
        "group_id": None,
        "page_id": pid,
        "group": False,
        "only_show_if_degraded": False,
    }


def _incident_json(row: dict, pid: str, states: dict[int, str]) -> dict:
    def component(service) -> dict:
        state = states.get(service.pk, "operational")
        return _component_json(
            {"service": service, "status": state, "updated_at": service.updated_at}, pid
        )

    return {
        "id": row["id"],
        "name": row["name"],
        "status": row["status"],
        "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]),
        "monitoring_at": _iso(row["monitoring_at"]),
        "resolved_at": _iso(row["resolved_at"]),
        "impact": row["impact"],
        "shortlink": row["shortlink"],
        "started_at": _iso(row["started_at"]),
        "page_id": pid,
        "incident_updates": [
            {
                "id": u["id"],
                "status": u["status"],
                "body": u["body"],
                "incident_id": u["incident_id"],
                "created_at": _iso(u["at"]),
                "updated_at": _iso(u["at"]),
                "display_at": _iso(u["at"]),
                "affected_components": [
                    {
                        "code": str(c.pk),
                        "name": c.display_name,
                        "old_status": states.get(c.pk, "operational"),
                        "new_status": states.get(c.pk, "operational"),
                    }
                    for c in u["components"]
                ],
                "deliver_notifications": True,
                "custom_tweet": None,
                "tweet_id": None,
            }
            for u in row["updates"]
        ],
        "components": [component(s) for s in row["components"]],
    }


def summary_json(data: dict) -> dict:
    pid = data["page"]["id"]
    states = {row["service"].pk: row["status"] for row in data["components"]}
    page = dict(data["page"], updated_at=_iso(data["page"]["updated_at"]))
    return {
        "page": page,
        "components": [_component_json(row, pid) for row in data["components"]],
        "incidents": [_incident_json(row, pid, states) for row in data["incidents"]],
        "scheduled_maintenances": [],
        "status": data["status"],
    }


def incidents_json(data: dict) -> dict:
    pid = data["page"]["id"]
    states = {row["service"].pk: row["status"] for row in data["components"]}
    page = dict(data["page"], updated_at=_iso(data["page"]["updated_at"]))
    rows = data["incidents"] + data["history"]
    return {"page": page, "incidents": [_incident_json(row, pid, states) for row in rows]}


def history_by_day(data: dict) -> list[tuple]:
    """(date, rows) for each day with a resolved incident, newest first, plus the last seven
    days even when quiet (as public status pages show them)."""
    days: dict = {}
    today = timezone.localdate(data["now"])
    for offset in range(7):
        days[today - timedelta(days=offset)] = []
    for row in data["history"]:
        days.setdefault(timezone.localdate(row["resolved_at"]), []).append(row)
    return sorted(days.items(), key=lambda item: item[0], reverse=True)
