"""/api/v1/webhooks: leads manage outgoing webhook endpoints and read their deliveries,
with the permissions of the Outgoing webhooks page and its form."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Path, Query, Router, Schema, Status

from console.api_kit import READ, WRITE, decode_cursor, page_of, validated
from incidents.api.schemas import iso_time
from incidents.permissions import require_perm
from incidents.webhooks.forms import WebhookEndpointForm
from incidents.webhooks.models import WebhookDelivery, WebhookEndpoint

router = Router(tags=["webhooks"])
EndpointId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class EndpointIn(Schema):
    url: str = Field(max_length=500)
    description: str = Field(default="", max_length=200)
    events: list[str] = Field(max_length=20, description="Event types, such as incident.resolved")


class EndpointOut(Schema):
    id: int
    url: str
    description: str
    events: list[str]
    enabled: bool
    created_at: datetime


class EndpointCreated(EndpointOut):
    secret: str = Field(description="The signing secret; shown only in this answer")


class DeliveryOut(Schema):
    id: int
    event_type: str
    state: str
    attempts: int
    next_attempt_at: datetime
    response_code: int | None
    response_body: str
    error: str
    created_at: datetime
    finished_at: datetime | None
    payload: dict[str, Any]


class DeliveryPage(Schema):
    items: list[DeliveryOut]
    next_cursor: str | None


def endpoint_data(endpoint: WebhookEndpoint) -> dict:
    return {
        "id": endpoint.pk,
        "url": endpoint.url,
        "description": endpoint.description,
        "events": endpoint.events,
        "enabled": endpoint.enabled,
        "created_at": iso_time(endpoint.created_at),
    }


def delivery_data(d: WebhookDelivery) -> dict:
    return {
        "id": d.pk,
        "event_type": d.event_type,
        "state": d.state,
        "attempts": d.attempts,
        "next_attempt_at": iso_time(d.next_attempt_at),
        "response_code": d.response_code,
        "response_body": d.response_body,
        "error": d.error,
        "created_at": iso_time(d.created_at),
        "finished_at": iso_time(d.finished_at),
        "payload": d.payload,
    }


@router.get("", response={200: list[EndpointOut], **READ}, summary="Webhook endpoints")
def list_webhooks(request: HttpRequest):
    require_perm(request, "incidents.view_webhookendpoint")
    return [endpoint_data(e) for e in WebhookEndpoint.objects.all()]


@router.post("", response={201: EndpointCreated, **WRITE}, summary="Subscribe an endpoint")
def create_webhook(request: HttpRequest, payload: EndpointIn):
    require_perm(request, "incidents.add_webhookendpoint")
    form = WebhookEndpointForm(data=payload.dict())
    validated(form)
    endpoint = form.save(commit=False)
    endpoint.created_by = request.user
    endpoint.save()
    return Status(201, {**endpoint_data(endpoint), "secret": endpoint.secret})


@router.get("/{endpoint_id}/deliveries", response={200: DeliveryPage, **READ}, summary="Deliveries")
def webhook_deliveries(
    request: HttpRequest,
    endpoint_id: EndpointId,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
):
    """Newest first, with each one's tries and the endpoint's last response."""
    require_perm(request, "incidents.view_webhookendpoint")
    endpoint = get_object_or_404(WebhookEndpoint, pk=endpoint_id)
    deliveries = endpoint.deliveries.order_by("-id")
    after = decode_cursor(cursor)
    if after is not None:
        deliveries = deliveries.filter(id__lt=after)
    items, next_cursor = page_of(list(deliveries[: limit + 1]), limit)
    return {"items": [delivery_data(d) for d in items], "next_cursor": next_cursor}
