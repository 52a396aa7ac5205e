"""SMS pages over Twilio's Messages endpoint. The text names the incident and how to answer:
a reply of 1 (or ACK <incident number>) acknowledges, STOP stops texts to the number."""

from __future__ import annotations

from django.urls import reverse

from incidents.escalation.channels import public_url, twilio

MAX_LENGTH = 320  # two concatenated segments


def page_text(delivery) -> str:
    incident, page = delivery.incident, delivery.page
    from incidents.escalation.channels import incident_url

    head = f"[{incident.severity}] {incident.reference} {incident.title}"
    tail = f" · L{page.level} paged. Reply 1 or ACK {incident.pk} to acknowledge. "
    link = incident_url(incident)
    room = MAX_LENGTH - len(tail) - len(link)
    if len(head) > room:
        head = head[: max(room - 1, 20)] + "…"
    return head + tail + link


def status_callback_url() -> str:
    return public_url(reverse("twilio_status"))


def send(delivery) -> int:
    code, body = twilio.send_message(delivery.target, page_text(delivery), status_callback_url())
    remember(delivery, body)
    return code


def remember(delivery, body: dict) -> None:
    """The provider's id and first status, before the delivery is marked sent: a status
    callback may arrive before the worker gets to that."""
    from incidents.escalation.models import NotificationDelivery

    NotificationDelivery.objects.filter(pk=delivery.pk).update(
        provider_ref=str(body.get("sid", ""))[:64],
        provider_status=str(body.get("status", ""))[:32],
    )
