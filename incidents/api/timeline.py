"""/api/v1/incidents/{id}/timeline and notes: the append-only audit log, oldest first."""

from __future__ import annotations

from typing import Annotated

from django.http import HttpRequest
from ninja import Field, Header, Query, Router, Schema

from console.api_kit import (
    READ,
    WRITE,
    decode_cursor,
    idempotent,
    not_modified_since,
    page_of,
    rendered,
    validated,
)
from incidents import actions
from incidents.api.incidents import MAX_ID, IncidentId
from incidents.api.schemas import EventOut, EventPage, event_data
from incidents.forms import NOTE_MAX_LENGTH, NoteForm
from incidents.models import TimelineEvent
from incidents.permissions import get_incident_for_user

router = Router(tags=["timeline"])


class NoteIn(Schema):
    text: str = Field(max_length=NOTE_MAX_LENGTH)


@router.get(
    "/{incident_id}/timeline", response={200: EventPage, **READ}, summary="Read the timeline"
)
def timeline(
    request: HttpRequest,
    incident_id: IncidentId,
    since: Annotated[
        int, Query(ge=0, le=MAX_ID, description="Only events with an id greater than this")
    ] = 0,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
):
    """Oldest first. Poll with `since=<the last id you saw>`; follow `next_cursor` for more."""
    incident = get_incident_for_user(request, incident_id)
    after = max(since, decode_cursor(cursor) or 0)
    # Events are never changed: the newest id names everything a page can hold.
    newest = (
        TimelineEvent.objects.filter(incident=incident).order_by("-id").values_list("id", flat=True)
    ).first()
    unchanged = not_modified_since(request, f'"tl-{incident.pk}-{after}-{limit}-{newest or 0}"')
    if unchanged is not None:
        return unchanged
    events = list(
        TimelineEvent.objects.filter(incident=incident, id__gt=after)
        .select_related("actor")
        .order_by("id")[: limit + 1]
    )
    items, next_cursor = page_of(events, limit)
    return rendered(request, {"items": [event_data(e) for e in items], "next_cursor": next_cursor})


@router.post("/{incident_id}/notes", response={201: EventOut, **WRITE}, summary="Add a note")
def add_note(
    request: HttpRequest,
    incident_id: IncidentId,
    payload: NoteIn,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", max_length=255, description="Retry-safe creation"),
    ] = None,
):
    incident = get_incident_for_user(request, incident_id, "incidents.declare_incident")

    def create() -> tuple[int, dict]:
        data = validated(NoteForm(data=payload.dict()))
        event = actions.add_note(incident, text=data["text"], by=request.user)
        return 201, event_data(event)

    return idempotent(request, idempotency_key, create)
