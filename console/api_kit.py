"""What every router of the REST API shares: problem details (RFC 9457), cursors,
Idempotency-Key handling and form-validated input.

Routers import from here; console/api.py mounts them and turns exceptions into problems.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

from django import forms
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Schema, Status
from pydantic import Field

PROBLEM_TYPE_BASE = "https://incident-console.dev/problems/"


class FieldError(Schema):
    field: str = Field(description="The field's name, or __all__ for the request as a whole")
    message: str


class Problem(Schema):
    """An RFC 9457 problem document."""

    type: str = Field(description="A URI naming the kind of problem")
    title: str
    status: int
    detail: str = Field(description="What went wrong, in the words the console's pages use")
    instance: str = Field(description="The request path")
    errors: list[FieldError] | None = Field(default=None, description="Invalid fields (422 only)")


TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    422: "Invalid fields",
    429: "Too many requests",
}
SLUGS = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "too-large",
    422: "invalid",
    429: "rate-limited",
}


class ProblemError(Exception):
    """Raised by a handler (or the auth) to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: list[dict] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}


def problem_response(
    request: HttpRequest,
    status: int,
    detail: str,
    *,
    errors: list[dict] | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + SLUGS.get(status, str(status)),
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request.path,
    }
    if errors is not None:
        body["errors"] = errors
    response = HttpResponse(
        json.dumps(body), status=status, content_type="application/problem+json"
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


# The problems an operation may answer with, by what it does. 429 and 401 apply to every
# operation behind a token.
READ = {401: Problem, 403: Problem, 404: Problem, 422: Problem, 429: Problem}
# Writes also: 400 for a body that isn't JSON, 409 for a change the state forbids.
WRITE = {**READ, 400: Problem, 409: Problem}


def form_errors(form: forms.Form) -> list[dict]:
    return [
        {"field": field, "message": str(message)}
        for field, messages in form.errors.items()
        for message in messages
    ]


def validated(form: forms.Form) -> dict:
    """The form's cleaned data, or a 422 with the messages the page would show."""
    if not form.is_valid():
        errors = form_errors(form)
        raise ProblemError(422, " ".join(e["message"] for e in errors), errors=errors)
    return form.cleaned_data


def rendered(request: HttpRequest, data: dict, status: int = 200) -> HttpResponse:
    """Render an answer built by the representation functions straight to JSON (with the
    API's ETag handling) instead of validating it field by field against its schema again:
    for a 1,000-event timeline that is most of the request's time. Schemathesis checks in the
    test suite that these answers conform to the schema."""
    from console.api import api

    return api.create_response(request, data, status=status)


def not_modified_since(request: HttpRequest, etag: str) -> HttpResponse | None:
    """A 304 when If-None-Match carries `etag`, before any work; else remember it for the
    answer (ConsoleAPI.create_response puts it on the 200)."""
    request.api_etag = etag
    sent = [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]
    if etag in sent:
        response = HttpResponse(status=304)
        response["ETag"] = etag
        response["Cache-Control"] = "private, no-cache"
        return response
    return None


# Cursors --------------------------------------------------------------------------------


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = raw.partition(":")
        if kind != "id":
            raise ValueError(raw)
        return int(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProblemError(
            422,
            "The cursor is not one this API handed out.",
            errors=[{"field": "cursor", "message": "Not a cursor from a previous page."}],
        ) from exc


def page_of(items: list, limit: int) -> tuple[list, str | None]:
    """The first `limit` items and the cursor after them (None on the last page); the query
    fetched limit + 1 rows so that one query also says whether there is more."""
    if len(items) > limit:
        items = items[:limit]
        return items, encode_cursor(items[-1].pk)
    return items, None


# Idempotency-Key ------------------------------------------------------------------------

IDEMPOTENCY_HEADER = "Idempotency-Key"


def _fingerprint(request: HttpRequest) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode() + b" " + request.path.encode() + b"\n")
    digest.update(request.body)
    return digest.hexdigest()


def idempotent(
    request: HttpRequest, key: str | None, create: Callable[[], tuple[int, dict]]
) -> Status | HttpResponse:
    """Run `create` (which returns the status and JSON body) once per Idempotency-Key.

    A retry with the same key and request gets the first answer again (with
    `Idempotent-Replayed: true`); the same key on a different request is a 422; a retry
    while the first is still running is a 409. Keys are kept for 24 hours.
    """
    if not key:
        return Status(*create())
    from incidents.api.models import IDEMPOTENCY_TTL, IdempotencyKey

    if len(key) > 255:
        raise ProblemError(
            422,
            "The Idempotency-Key is longer than 255 characters.",
            errors=[{"field": IDEMPOTENCY_HEADER, "message": "At most 255 characters."}],
        )
    fingerprint = _fingerprint(request)
    IdempotencyKey.objects.filter(
        user=request.user, key=key, created_at__lt=timezone.now() - IDEMPOTENCY_TTL
    ).delete()
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(
                    user=request.user, key=key, fingerprint=fingerprint
                )
        except IntegrityError:
            record = None
        if record is not None:
            status, body = create()
            record.status_code, record.response = status, body
            record.save(update_fields=["status_code", "response"])
            return Status(status, body)
    earlier = IdempotencyKey.objects.filter(user=request.user, key=key).first()
    if earlier is None or earlier.status_code is None:
        raise ProblemError(409, "A request with this Idempotency-Key is still being processed.")
    if earlier.fingerprint != fingerprint:
        raise ProblemError(
            422,
            "This Idempotency-Key was used for a different request.",
            errors=[{"field": IDEMPOTENCY_HEADER, "message": "Already used for another request."}],
        )
    response = HttpResponse(
        json.dumps(earlier.response),
        status=earlier.status_code,
        content_type="application/json; charset=utf-8",
    )
    response["Idempotent-Replayed"] = "true"
    return response
