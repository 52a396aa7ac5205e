"""The incident page's escalation panel (part of live_context)."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Prefetch

from incidents.escalation import engine
from incidents.escalation.models import EscalationPage, IncidentEscalation, NotificationDelivery


def escalation_panel(incident, now) -> dict | None:
    """The ladder as frozen onto the incident, each level's state, and its deliveries:
    three queries, however many levels and deliveries."""
    escalation = IncidentEscalation.objects.filter(incident=incident).first()
    if escalation is None:
        return None
    pages = {
        page.level: page
        for page in EscalationPage.objects.filter(incident=incident)
        .select_related("paged_by")
        .prefetch_related(
            Prefetch(
                "deliveries",
                queryset=NotificationDelivery.objects.select_related("user").order_by(
                    "user_id", "step", "channel", "id"
                ),
            )
        )
    }
    rows = []
    for level in escalation.levels:
        page = pages.get(level["position"])
        due = escalation.anchor_at + timedelta(minutes=level["delay_minutes"])
        if page is not None:
            state = "paged"
        elif escalation.stopped_at is not None:
            state = "stopped"
        elif level["position"] == escalation.next_level and due <= now:
            state = "due"
        else:
            state = "pending"
        rows.append(
            {
                "level": level,
                "page": page,
                "due": due,
                "state": state,
                "targets": engine.describe_targets(level),
                "deliveries": list(page.deliveries.all()) if page else [],
            }
        )
    can_escalate = (
        incident.is_open
        and escalation.next_level is not None
        and any(r["page"] is None for r in rows)
    )
    changes = [d.changed_at for page in pages.values() for d in page.deliveries.all()]
    return {
        "escalation": escalation,
        # The newest delivery change: part of the page's ETag (see views/live.py).
        "deliveries_changed_at": max(changes, default=None),
        "rows": rows,
        "running": escalation.stopped_at is None and escalation.next_level is not None,
        "can_escalate": can_escalate,
    }
