"""/api/v1/incidents/{id}/review: the post-incident review as its JSON export (format 1,
described by incidents/reviews/review.schema.json), and adding action items."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Router, Schema, Status

from console.api_kit import READ, WRITE, validated
from incidents.api.incidents import IncidentId
from incidents.api.incidents import _user_pk as user_pk
from incidents.permissions import require_perm
from incidents.reviews import actions
from incidents.reviews.export import review_document
from incidents.reviews.models import PostIncidentReview
from incidents.reviews.views import ActionItemForm, ReviewForm, get_review_for_user
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


class SectionsIn(Schema):
    """Only the fields sent change; the others keep their text."""

    summary: str | None = Field(default=None, max_length=20_000)
    root_cause: str | None = Field(default=None, max_length=20_000)
    contributing_factors: str | None = Field(default=None, max_length=20_000)
    fixes_applied: str | None = Field(default=None, max_length=20_000)
    long_term_fixes: str | None = Field(default=None, max_length=20_000)
    went_well: str | None = Field(default=None, max_length=20_000)
    could_improve: str | None = Field(default=None, max_length=20_000)
    impact_started_at: datetime | None = None
    users_affected: int | None = Field(default=None, ge=0, le=2**31 - 1)
    customer_facing: bool | None = None


class StateIn(Schema):
    to: Literal["in_review", "draft", "published", "revise"] = Field(
        description="in_review (send for review), draft (back), published (leads), "
        "revise (open a new revision of a published review)"
    )


def _local_input(value: datetime | None) -> str:
    """As the page's datetime-local input sends a time: local wall time."""
    return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M:%S") if value else ""


def _review_form_data(review: PostIncidentReview, payload: SectionsIn) -> dict:
    """The review form's fields as the page posts them: the current values, with the sent
    ones over them."""
    sent = payload.dict(exclude_unset=True)
    data = {}
    for name in ReviewForm._meta.fields:
        value = sent[name] if name in sent else getattr(review, name)
        if name == "impact_started_at":
            data[name] = _local_input(value)
        elif name == "customer_facing":
            if value:
                data[name] = "on"
        else:
            data[name] = "" if value is None else str(value)
    return data


@router.patch(
    "/{incident_id}/review",
    response={200: dict[str, Any], **WRITE},
    summary="Edit the review's sections",
)
def update_review(request: HttpRequest, incident_id: IncidentId, payload: SectionsIn):
    """409 once it is published (start a revision first)."""
    review = get_review_for_user(request, incident_id, "incidents.change_postincidentreview")
    current = PostIncidentReview.objects.get(pk=review.pk)
    data = validated(ReviewForm(data=_review_form_data(current, payload), instance=current))
    actions.save_review(review, by=request.user, fields=data)
    return review_document(get_review_for_user(request, incident_id))


@router.post(
    "/{incident_id}/review/state",
    response={200: dict[str, Any], **WRITE},
    summary="Send for review, back to draft, publish, or start a revision",
)
def change_review_state(request: HttpRequest, incident_id: IncidentId, payload: StateIn):
    review = get_review_for_user(request, incident_id, "incidents.change_postincidentreview")
    if payload.to == "in_review":
        actions.submit_for_review(review, by=request.user)
    elif payload.to == "draft":
        actions.back_to_draft(review, by=request.user)
    elif payload.to == "published":
        require_perm(request, "incidents.publish_review")
        actions.publish(review, by=request.user)
    else:
        actions.start_revision(review, by=request.user)
    return review_document(get_review_for_user(request, incident_id))
