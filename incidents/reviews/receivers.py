"""Opens the review when an incident resolves (inside the resolve's transaction)."""

from __future__ import annotations

from django.dispatch import receiver

from incidents.models import TimelineEvent
from incidents.signals import event_recorded


@receiver(event_recorded, dispatch_uid="incidents.reviews.open_on_resolve")
def open_on_resolve(sender, event: TimelineEvent, **kwargs) -> None:
    if event.kind != TimelineEvent.Kind.RESOLVED:
        return
    from incidents.reviews.actions import open_review

    open_review(event.incident, event.at)
