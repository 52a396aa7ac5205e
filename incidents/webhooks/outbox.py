"""Writing deliveries: one per subscribed endpoint, inside the transaction of the change
(the `event_recorded` signal is sent there), so an event is delivered if and only if its
change committed. The worker is kicked after the commit."""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from incidents.api.schemas import event_data, incident_data, iso_time, load_for_representation
from incidents.models import Incident, TimelineEvent
from incidents.signals import event_recorded
from incidents.webhooks.models import EventType, WebhookDelivery, WebhookEndpoint

Kind = TimelineEvent.Kind
KIND_TO_TYPE = {
    Kind.DECLARED: EventType.INCIDENT_DECLARED,
    Kind.ACKNOWLEDGED: EventType.INCIDENT_ACKNOWLEDGED,
    Kind.SEVERITY_CHANGED: EventType.INCIDENT_SEVERITY_CHANGED,
    Kind.STATUS_CHANGED: EventType.INCIDENT_STATUS_CHANGED,
    Kind.REOPENED: EventType.INCIDENT_STATUS_CHANGED,
    Kind.RESOLVED: EventType.INCIDENT_RESOLVED,
    Kind.UPDATE_PUBLISHED: EventType.STATUS_UPDATE_PUBLISHED,
    Kind.REVIEW_PUBLISHED: EventType.REVIEW_PUBLISHED,
}


def subscribed(event_type: str) -> list[WebhookEndpoint]:
    # Filtered here: SQLite has no JSON containment lookup, and endpoints are few.
    return [e for e in WebhookEndpoint.objects.filter(enabled=True) if event_type in e.events]


def queue(event_type: str, event_id: str, at, incident: Incident, data: dict) -> int:
    endpoints = subscribed(event_type)
    if not endpoints:
        return 0
    payload = {
        "id": event_id,
        "type": event_type,
        "created_at": iso_time(at),
        "data": {"incident": incident_data(load_for_representation(incident)), **data},
    }
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(endpoint=e, event_type=event_type, payload=payload) for e in endpoints
    )
    from incidents.webhooks.tasks import kick

    for endpoint in endpoints:
        transaction.on_commit(lambda pk=endpoint.pk: kick(pk))
    return len(endpoints)


@receiver(event_recorded, dispatch_uid="incidents.webhooks.outbox")
def on_event(sender, event: TimelineEvent, **kwargs) -> None:
    event_type = KIND_TO_TYPE.get(event.kind)
    if event_type is None:
        return
    queue(event_type, f"evt_{event.pk}", event.at, event.incident, {"event": event_data(event)})


def action_item_data(item) -> dict:
    return {
        "id": item.pk,
        "title": item.title,
        "owner": item.owner.get_username() if item.owner_id else None,
        "due_date": item.due_date.isoformat() if item.due_date else None,
        "status": item.status,
        "link": item.link,
    }


@receiver(post_save, sender="incidents.ActionItem", dispatch_uid="incidents.webhooks.action_item")
def on_action_item(sender, instance, created: bool, **kwargs) -> None:
    if not created:
        return
    incident = Incident.objects.get(pk=instance.review.incident_id)
    queue(
        EventType.ACTION_ITEM_CREATED,
        f"ai_{instance.pk}",
        instance.created_at,
        incident,
        {"action_item": action_item_data(instance)},
    )
