"""/api/v1/incidents/{id}/review: the post-incident review as its JSON export (format 1,
described by incidents/reviews/review.schema.json), and adding action items."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from console.api_kit import READ, WRITE, validated
from incidents.api.incidents import IncidentId
from incidents.api.incidents import _user_pk as user_pk
from incidents.reviews import actions
from incidents.reviews.export import review_document
from incidents.reviews.views import ActionItemForm, get_review_for_user
from incidents.webhooks.outbox import action_item_data

router = Router(tags=["reviews"])


class ActionItemIn(Schema):
    title: str = Field(max_length=300)
    owner: str | None = Field(default=None, max_length=150, description="Username")
    due_date: date | None = None
    link: str = Field(default="", max_length=500)


class ActionItemOut(Schema):
    id: int
    title: str
    owner: str | None
    due_date: date | None
    status: str
    link: str


@router.get(
    "/{incident_id}/review",
    response={200: dict[str, Any], **READ},
    summary="The review (its JSON export)",
)
def get_review(request: HttpRequest, incident_id: IncidentId):
    """Opened when the incident is resolved; 404 before that."""
    return review_document(get_review_for_user(request, incident_id))


@router.post(
    "/{incident_id}/review/action-items",
    response={201: ActionItemOut, **WRITE},
    summary="Add an action item",
)
def add_action_item(request: HttpRequest, incident_id: IncidentId, payload: ActionItemIn):
    review = get_review_for_user(request, incident_id, "incidents.change_postincidentreview")
    data = validated(
        ActionItemForm(
            data={
                "title": payload.title,
                "owner": user_pk(payload.owner),
                "due_date": payload.due_date.isoformat() if payload.due_date else "",
                "link": payload.link,
            }
        )
    )
    item = actions.add_action_item(review, by=request.user, **data)
    return Status(201, action_item_data(item))
