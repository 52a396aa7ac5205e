"""Opsgenie's Alert API at its paths, answered as Opsgenie answers, for senders that point
their API URL at the console (Alertmanager: `opsgenie_configs: [{api_url: https://console/,
api_key: …}]`):

    POST /v2/alerts                                            create
    POST /v2/alerts/<alias>/close?identifierType=alias         close
    POST /v2/alerts/<alias>/acknowledge?identifierType=alias   acknowledge

Authorization: `GenieKey <key>`, the integration's API key (a UUID; only its SHA-256 is
stored). Answers: 202 {"result": "Request will be processed", "took", "requestId"}; 401
{"message": "Could not authenticate", …}; 400 for a body that is not a JSON object; 422
{"message": "Request body is not processable. Please check the errors.", "errors": {field:
reason}, …}; 413 over 1 MB; 429 with Retry-After. The reader is formats/opsgenie.py.
"""

from __future__ import annotations

import json
import logging
import time
import uuid

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from incidents.intake import formats
from incidents.intake.formats import Refusal
from incidents.intake.formats.base import load_json
from incidents.intake.formats.opsgenie import Unprocessable
from incidents.intake.models import InboundEvent
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
KIND = "opsgenie"


def answer(status: int, started: float, **fields) -> JsonResponse:
    return JsonResponse(
        {**fields, "took": round(time.monotonic() - started, 3), "requestId": str(uuid.uuid4())},
        status=status,
    )


def handle(request: HttpRequest, action: str, identifier: str = "") -> JsonResponse:
    started = time.monotonic()
    if request.method != "POST":
        response = answer(405, started, message="Only POST is accepted here.")
        response["Allow"] = "POST"
        return response
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    integration = (
        find_integration(KIND, key.strip()) if scheme.lower() == "geniekey" and key else None
    )
    if integration is None:
        return answer(401, started, message="Could not authenticate")
    body = read_body(request)
    if body is None:
        close_after(request)
        return answer(413, started, message=f"Request body is over {MAX_BODY} bytes.")
    retry_after = over_rate(integration)
    if retry_after:
        response = answer(429, started, message="Too many requests, please retry later.")
        response["Retry-After"] = str(retry_after)
        return response
    try:
        document = load_json(body) if body.strip() else {}
    except Refusal as exc:
        return answer(400, started, message=exc.reason)
    envelope: dict = {"action": action, "body": document}
    if action == "create":
        if not document.get("alias"):  # Opsgenie: no alias, a new alert every time
            document["alias"] = str(uuid.uuid4())
    else:
        envelope["identifier"] = identifier
        envelope["identifierType"] = request.GET.get("identifierType", "id")
    text = json.dumps(envelope, ensure_ascii=False)
    try:
        formats.read(KIND, text.encode(), integration)
    except Unprocessable as exc:
        return answer(
            422,
            started,
            message="Request body is not processable. Please check the errors.",
            errors=exc.errors,
        )
    except Refusal as exc:
        return answer(400, started, message=exc.reason)
    except Exception:  # a reader's bug: keep the request, processing fails it visibly
        log.exception("the opsgenie reader raised on a request to %s", integration)
    event = InboundEvent.objects.receive(integration, text)
    if not kick(integration.pk):
        process_event(event.pk)
    return answer(202, started, result="Request will be processed")


@csrf_exempt
def alerts(request: HttpRequest) -> JsonResponse:
    return handle(request, "create")


@csrf_exempt
def close(request: HttpRequest, identifier: str) -> JsonResponse:
    return handle(request, "close", identifier)


@csrf_exempt
def acknowledge(request: HttpRequest, identifier: str) -> JsonResponse:
    return handle(request, "acknowledge", identifier)
