"""/api/v1/integrations: the alert senders, for leads. List (with the last day's traffic, as
the integrations page shows it), create (the hook URL, and for PagerDuty and Opsgenie the
key, are in that answer only, never cached) and update.

The handlers call the page's access helper, its IntegrationForm and its list query
(incidents/views/integrations.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from django.http import HttpRequest
from ninja import Field, Path, Router, Schema

from console.api_kit import READ, WRITE, rendered, validated
from incidents.api.incidents import MAX_ID, ObjectId
from incidents.api.schemas import SeverityName, iso_time
from incidents.intake.models import InboundEvent, Integration
from incidents.permissions import require_perm
from incidents.views.integrations import (
    IntegrationForm,
    get_integration_for_user,
    integrations_with_traffic,
    masked_hook_path,
)

router = Router(tags=["integrations"])

IntegrationId = Annotated[int, Path(ge=1, le=MAX_ID, description="The integration's id")]


class IntegrationOut(Schema):
    id: int
    name: str
    kind: str
    default_service_id: int | None
    default_severity: SeverityName
    auto_resolve: bool
    rate_limit_per_minute: int
    signing_secret_env: str
    enabled: bool
    hook_hint: str = Field(description="The hook URL's path with the token cut short")
    created_at: datetime
    rotated_at: datetime | None
    last_delivery_at: datetime | None = None
    deliveries_24h: dict[str, int] | None = Field(
        default=None, description="The last day's deliveries by state (list only)"
    )


class IntegrationCreated(IntegrationOut):
    hook_url: str = Field(description="Where the sender posts; shown in this answer only")
    secret: str = Field(
        description="PagerDuty's routing key or Opsgenie's API key (they travel outside the "
        "URL), else empty; shown in this answer only"
    )


class IntegrationUpdate(Schema):
    name: str = Field(max_length=100)
    default_service_id: ObjectId | None = None
    default_severity: SeverityName = "P2"
    auto_resolve: bool = True
    rate_limit_per_minute: int = Field(default=600, ge=1, le=100_000)
    signing_secret_env: str = Field(default="", max_length=100)


class IntegrationIn(IntegrationUpdate):
    kind: str = Field(max_length=20, description="alertmanager, grafana, stripe, pagerduty, …")


def integration_data(integration: Integration) -> dict:
    data = {
        "id": integration.pk,
        "name": integration.name,
        "kind": integration.kind,
        "default_service_id": integration.default_service_id,
        "default_severity": integration.default_severity,
        "auto_resolve": integration.auto_resolve,
        "rate_limit_per_minute": integration.rate_limit_per_minute,
        "signing_secret_env": integration.signing_secret_env,
        "enabled": integration.enabled,
        "hook_hint": masked_hook_path(integration),
        "created_at": iso_time(integration.created_at),
        "rotated_at": iso_time(integration.rotated_at),
    }
    if hasattr(integration, "by_state"):
        data["last_delivery_at"] = iso_time(integration.last_delivery_at)
        data["deliveries_24h"] = {
            state: getattr(integration, f"n_{state}") for state in InboundEvent.State
        }
    return data


def _form_data(payload: IntegrationUpdate, kind: str) -> dict:
    """The API's fields as the integration form posts them (a checkbox: present or absent)."""
    data = {
        "name": payload.name,
        "kind": kind,
        "default_service": str(payload.default_service_id or ""),
        "default_severity": payload.default_severity,
        "rate_limit_per_minute": str(payload.rate_limit_per_minute),
        "signing_secret_env": payload.signing_secret_env,
    }
    if payload.auto_resolve:
        data["auto_resolve"] = "on"
    return data


@router.get("", response={200: list[IntegrationOut], **READ}, summary="List integrations")
def list_integrations(request: HttpRequest):
    """By name, each with its last delivery and the last day's deliveries by state: one
    query however many integrations."""
    require_perm(request, "incidents.view_integration")
    return [integration_data(i) for i in integrations_with_traffic()]


@router.post("", response={201: IntegrationCreated, **WRITE}, summary="Create an integration")
def create_integration(request: HttpRequest, payload: IntegrationIn):
    require_perm(request, "incidents.add_integration")
    form = IntegrationForm(data=_form_data(payload, payload.kind))
    validated(form)
    integration = form.save(commit=False)
    integration.created_by = request.user
    token = integration.new_token()
    integration.save()
    data = {
        **integration_data(integration),
        "hook_url": request.build_absolute_uri(integration.hook_path(token)),
        "secret": token if integration.secret_outside_url else "",
    }
    response = rendered(request, data, status=201)
    # The token is in this answer only: no cache may keep it.
    response["Cache-Control"] = "no-store, private"
    return response


@router.get("/{integration_id}", response={200: IntegrationOut, **READ}, summary="Read one")
def get_integration(request: HttpRequest, integration_id: IntegrationId):
    return integration_data(get_integration_for_user(request, integration_id))


@router.put(
    "/{integration_id}", response={200: IntegrationOut, **WRITE}, summary="Update an integration"
)
def update_integration(
    request: HttpRequest, integration_id: IntegrationId, payload: IntegrationUpdate
):
    """Every field but the kind (part of the hook URL); the token stays as it is."""
    integration = get_integration_for_user(request, integration_id, "incidents.change_integration")
    form = IntegrationForm(data=_form_data(payload, integration.kind), instance=integration)
    validated(form)
    form.save()
    return integration_data(get_integration_for_user(request, integration_id))
