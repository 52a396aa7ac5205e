"""The engine's hooks on the timeline: declaring applies the policy, a severity change
re-applies it while the ladder runs (ESCALATION_POLICY_APPLIED), acknowledging stops it,
resolving stops everything (ESCALATION_STOPPED when the ladder was still running). Declaring
and acknowledging write no event of their own: theirs says it, and keeps "one action, one
event" for the people reading the timeline.

Reopening: an incident nobody acknowledged gets its ladder back, the clock running from the
reopening (levels already paged stay paged); an acknowledged one has an owner and is not paged.
"""

from __future__ import annotations

from django.dispatch import receiver

from incidents.escalation import engine
from incidents.escalation.models import IncidentEscalation, NotificationDelivery
from incidents.models import TimelineEvent
from incidents.signals import event_recorded

Kind = TimelineEvent.Kind


@receiver(event_recorded, dispatch_uid="incidents.escalation.on_event")
def on_event(sender, event: TimelineEvent, **kwargs) -> None:
    incident = event.incident
    if event.kind == Kind.DECLARED:
        engine.apply_policy(incident, by=event.actor, reason="declared", at=event.at, quiet=True)
    elif event.kind == Kind.SEVERITY_CHANGED:
        running = IncidentEscalation.objects.filter(
            incident=incident, stopped_at__isnull=True
        ).exists()
        if running and incident.acknowledged_at is None and incident.is_open:
            engine.apply_policy(
                incident,
                by=event.actor,
                reason=f"severity changed {event.data.get('from')} → {event.data.get('to')}",
                at=event.at,
            )
    elif event.kind == Kind.ACKNOWLEDGED:
        engine.stop(incident, reason="acknowledged", by=event.actor, at=event.at, quiet=True)
        # Paged people's later rule steps stop too (their immediate ones are already out).
        NotificationDelivery.objects.filter(
            incident=incident, state=NotificationDelivery.State.PENDING, due_at__isnull=False
        ).update(
            state=NotificationDelivery.State.SKIPPED,
            error="acknowledged before this step was due",
            changed_at=event.at,
        )
    elif event.kind == Kind.RESOLVED:
        engine.stop(incident, reason="resolved", by=event.actor, at=event.at)
        NotificationDelivery.objects.filter(
            incident=incident, state=NotificationDelivery.State.PENDING
        ).update(
            state=NotificationDelivery.State.SKIPPED,
            error="the incident was resolved before delivery",
            changed_at=event.at,
        )
    elif event.kind == Kind.REOPENED and incident.acknowledged_at is None:
        engine.apply_policy(
            incident, by=event.actor, reason="reopened", anchor_at=event.at, at=event.at
        )
