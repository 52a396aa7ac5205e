"""PagerDuty's Events API at the paths its senders use, answered as PagerDuty answers, so a
tool that pages PagerDuty switches by changing its URL (keeping the routing key shape):

    POST /v2/enqueue                              Events API v2
    POST /v2/change/enqueue                       change events (see intake/changes.py)
    POST /generic/2010-04-15/create_event.json    Events API v1 (Alertmanager's service_key)

The routing key (v1: service_key) is the integration's 32-character key, created with the
integration (only its SHA-256 is stored). Answers: 202 {"status": "success", "message":
"Event processed", "dedup_key": …} (v1: 200 with "incident_key"); 400 {"status": "invalid
event", "message": "Event object is invalid", "errors": […]}; 413 for a body over 1 MB; 429
{"status": "throttle event", …} with Retry-After. The reader is formats/pagerduty.py.
"""

from __future__ import annotations

import json
import logging
import uuid

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from incidents.intake import formats
from incidents.intake.formats import Refusal
from incidents.intake.formats.base import load_json
from incidents.intake.formats.pagerduty import Invalid
from incidents.intake.models import InboundEvent, Integration
from incidents.intake.process import process_event
from incidents.intake.views import (
    MAX_BODY,
    close_after,
    find_integration,
    kick,
    over_rate,
    read_body,
)

log = logging.getLogger(__name__)
KIND = "pagerduty"
KEY_LENGTH = 32


def invalid(errors: list[str], status: int = 400) -> JsonResponse:
    return JsonResponse(
        {"status": "invalid event", "message": "Event object is invalid", "errors": errors},
        status=status,
    )


def throttled(retry_after: int) -> JsonResponse:
    response = JsonResponse(
        {
            "status": "throttle event",
            "message": "Requests for this service are arriving too quickly. Please retry later.",
        },
        status=429,
    )
    response["Retry-After"] = str(retry_after)
    return response


def not_post() -> JsonResponse:
    response = JsonResponse(
        {"status": "invalid request", "message": "Only POST is accepted here."}, status=405
    )
    response["Allow"] = "POST"
    return response


def authenticated(request: HttpRequest, key_field: str) -> tuple[Integration, dict] | JsonResponse:
    """The integration named by the body's key, and the body's JSON; or the answer refusing."""
    if request.method != "POST":
        return not_post()
    body = read_body(request)
    if body is None:
        close_after(request)  # the rest of the body is not read: nor is the connection kept
        return invalid([f"The body is over {MAX_BODY} bytes."], status=413)
    try:
        document = load_json(body)
    except Refusal as exc:
        return invalid([exc.reason])
    key = document.get(key_field)
    if not isinstance(key, str) or len(key) != KEY_LENGTH:
        return invalid(
            [f"Length of '{key_field}' is incorrect (should be {KEY_LENGTH} characters)"]
        )
    integration = find_integration(KIND, key)
    if integration is None:
        return invalid([f"'{key_field}' is not the key of an enabled integration"])
    retry_after = over_rate(integration)
    if retry_after:
        return throttled(retry_after)
    return integration, document


def deliver(integration: Integration, document: dict) -> JsonResponse | None:
    """Validate with the reader, store, and have it processed (by a worker, or here when the
    broker is down); None when stored, else the 400."""
    text = json.dumps(document, ensure_ascii=False)
    try:
        formats.read(KIND, text.encode(), integration)
    except Invalid as exc:
        return invalid(exc.errors)
    except Refusal as exc:
        return invalid([exc.reason])
    except Exception:  # a reader's bug: keep the event, processing fails it visibly
        log.exception("the pagerduty reader raised on an event to %s", integration)
    event = InboundEvent.objects.receive(integration, text)
    if not kick(integration.pk):
        process_event(event.pk)
    return None


@csrf_exempt
def enqueue(request: HttpRequest) -> JsonResponse:
    answer = authenticated(request, "routing_key")
    if isinstance(answer, JsonResponse):
        return answer
    integration, document = answer
    # PagerDuty makes up the dedup_key of a trigger without one and answers with it; the
    # stored event carries it, so acknowledge and resolve with that key find the alert.
    if document.get("event_action") == "trigger" and document.get("dedup_key") is None:
        document["dedup_key"] = uuid.uuid4().hex
    refused = deliver(integration, document)
    if refused is not None:
        return refused
    return JsonResponse(
        {"status": "success", "message": "Event processed", "dedup_key": document["dedup_key"]},
        status=202,
    )


@csrf_exempt
def create_event_v1(request: HttpRequest) -> JsonResponse:
    answer = authenticated(request, "service_key")
    if isinstance(answer, JsonResponse):
        return answer
    integration, document = answer
    if document.get("event_type") == "trigger" and document.get("incident_key") is None:
        document["incident_key"] = uuid.uuid4().hex
    refused = deliver(integration, document)
    if refused is not None:
        return refused
    return JsonResponse(
        {
            "status": "success",
            "message": "Event processed",
            "incident_key": document["incident_key"],
        },
        status=200,
    )
