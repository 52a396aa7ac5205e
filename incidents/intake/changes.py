"""PagerDuty change events (`POST /v2/change/enqueue`): a deploy, a config push, a feature flag.

    {"routing_key", "payload": {"summary", "timestamp", "source", "custom_details"},
     "links": [{"href", "text"}]}

A change is not an alert: it opens nothing. It is stored for its integration's service (the
"Recent changes" panel of that service's incidents) and written on the timeline of each open
incident of the service, in one transaction. Answered 202 {"status": "success", "message":
"Change event processed"}; 400 as the Events API's (see pagerduty_api).
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from incidents import actions
from incidents.intake.formats import Refusal
from incidents.intake.formats.base import rfc3339
from incidents.intake.models import ChangeEvent, Integration
from incidents.intake.pagerduty_api import authenticated, invalid
from incidents.models import Incident, TimelineEvent

MAX_SUMMARY = 1024
# The panel shows the changes of the day before the incident was declared, and since.
PANEL_WINDOW = timedelta(hours=24)
PANEL_SIZE = 10


def validate(document: dict) -> tuple[list[str], dict]:
    errors: list[str] = []
    payload = document.get("payload")
    if not isinstance(payload, dict):
        return ["'payload' is missing or not an object"], {}
    summary = payload.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        errors.append("'payload.summary' is missing or blank")
    elif len(summary) > MAX_SUMMARY:
        errors.append(f"'payload.summary' is longer than {MAX_SUMMARY} characters")
    source = payload.get("source") or ""
    if not isinstance(source, str) or len(source) > 255:
        errors.append("'payload.source' must be a string of at most 255 characters")
    details = payload.get("custom_details") or {}
    if not isinstance(details, dict):
        errors.append("'payload.custom_details' must be an object")
    links = document.get("links") or []
    if not isinstance(links, list) or not all(
        isinstance(link, dict) and isinstance(link.get("href"), str) for link in links
    ):
        errors.append("'links' must be a list of objects with an 'href'")
    at = None
    try:
        at = rfc3339(payload.get("timestamp"), "'payload.timestamp'")
    except Refusal as exc:
        errors.append(exc.reason)
    fields = {
        "summary": (summary or "").strip() if isinstance(summary, str) else "",
        "source": source if isinstance(source, str) else "",
        "custom_details": details if isinstance(details, dict) else {},
        "links": links if isinstance(links, list) else [],
        "at": at or timezone.now(),
    }
    return errors, fields


def record_change(integration: Integration, fields: dict) -> ChangeEvent:
    """Store the change and note it on every open incident of its service, at once."""
    service = integration.default_service
    with transaction.atomic():
        change = ChangeEvent.objects.create(integration=integration, service=service, **fields)
        if service is not None:
            for incident in Incident.objects.open().filter(services=service).order_by("pk"):
                actions.record(
                    incident,
                    TimelineEvent.Kind.CHANGE_EVENT,
                    None,
                    text=f"change on {service.name}: {change.summary}"
                    + (f" ({change.source})" if change.source else ""),
                    data={
                        "change_id": change.pk,
                        "at": change.at.isoformat(),
                        "source": change.source,
                        "links": change.links,
                        "custom_details": change.custom_details,
                    },
                )
    return change


@csrf_exempt
def change_enqueue(request: HttpRequest) -> JsonResponse:
    answer = authenticated(request, "routing_key")
    if isinstance(answer, JsonResponse):
        return answer
    integration, document = answer
    errors, fields = validate(document)
    if errors:
        return invalid(errors)
    record_change(integration, fields)
    return JsonResponse({"status": "success", "message": "Change event processed"}, status=202)


def recent_changes(incident: Incident, services: list) -> list[ChangeEvent]:
    """The incident's services' changes from a day before its declaration on: one query (none
    without services)."""
    if not services:
        return []
    return list(
        ChangeEvent.objects.filter(
            service__in=services, at__gte=incident.declared_at - PANEL_WINDOW
        ).select_related("service")[:PANEL_SIZE]
    )
