"""Review pages: reading, editing, the workflow, action items, lists, and who may do what."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from incidents import actions
from incidents.models import TimelineEvent
from incidents.reviews import actions as review_actions
from incidents.reviews.drafting import drafted_timeline
from incidents.reviews.models import ActionItem, PostIncidentReview
from tests.conftest import HTMX, client_for
from tests.incidents.reviews_history import rich_incident

Kind = TimelineEvent.Kind
pytestmark = pytest.mark.django_db


@pytest.fixture
def resolved(responder, lead, service):
    return rich_incident(responder, lead, service)


def form_data(review, **changes) -> dict:
    data = {
        "summary": review.summary,
        "root_cause": "The pool was too small",
        "contributing_factors": "",
        "fixes_applied": "",
        "long_term_fixes": "",
        "went_well": "",
        "could_improve": "",
        "impact_started_at": "",
        "users_affected": "300",
        "customer_facing": "on",
    }
    data.update(changes)
    return data


def test_review_page_reads_for_responders_and_shows_every_section(resolved, responder):
    response = client_for(responder).get(f"/incidents/{resolved.pk}/review/")
    assert response.status_code == 200
    page = response.content.decode()
    for anchor in (
        "summary",
        "impact",
        "timeline",
        "root-cause",
        "contributing-factors",
        "fixes-applied",
        "long-term-fixes",
        "lessons",
        "checklist",
        "action-items",
        "runbook-feedback",
        "revisions",
    ):
        assert f'id="{anchor}"' in page, anchor
    assert "Checkout health: CRITICAL · 812 ms" in page
    assert "Publish revision" not in page  # responders don't publish


def test_saving_sections_timeline_choices_and_checklist(resolved, responder):
    review = resolved.review
    drafted = drafted_timeline(review)
    note = next(d for d in drafted if d.event.kind == Kind.NOTE_ADDED)
    first_item = review.checklist.first()
    data = form_data(review)
    for d in drafted:
        data[f"event-{d.event.pk}"] = "1"
        if d.shown:
            data[f"shown-{d.event.pk}"] = "on"
    data[f"shown-{note.event.pk}"] = "on"
    data[f"annotation-{note.event.pk}"] = "the call to roll back"
    data["ticked"] = [str(first_item.pk)]
    response = client_for(responder).post(f"/incidents/{resolved.pk}/review/", data)
    assert response.status_code == 302
    review.refresh_from_db()
    assert review.root_cause == "The pool was too small" and review.users_affected == 300
    assert review.updated_by == responder
    entry = review.entries.get(event=note.event)
    assert entry.shown and entry.annotation == "the call to roll back"
    first_item.refresh_from_db()
    assert first_item.done_by == responder and first_item.done_at is not None


def test_bad_input_is_a_422_and_nothing_changes(resolved, responder):
    review = resolved.review
    response = client_for(responder).post(
        f"/incidents/{resolved.pk}/review/", form_data(review, users_affected="-5")
    )
    assert response.status_code == 422
    review.refresh_from_db()
    assert review.root_cause == "" and review.users_affected is None


def test_workflow_publish_by_lead_only_and_published_is_read_only(resolved, responder, lead):
    review = resolved.review
    url = f"/incidents/{resolved.pk}/review/state/"
    responder_client, lead_client = client_for(responder), client_for(lead)
    responder_client.post(f"/incidents/{resolved.pk}/review/", form_data(review))
    assert responder_client.post(url, {"to": "in_review"}).status_code == 302
    assert responder_client.post(url, {"to": "published"}).status_code == 403
    review.refresh_from_db()
    assert review.state == "in_review"
    assert lead_client.post(url, {"to": "published"}).status_code == 302
    review.refresh_from_db()
    assert review.state == "published"
    assert resolved.events.filter(kind=Kind.REVIEW_PUBLISHED).count() == 1

    response = responder_client.post(
        f"/incidents/{resolved.pk}/review/", form_data(review, root_cause="sneaky change")
    )
    assert response.status_code == 409
    assert "read-only" in response.content.decode()
    review.refresh_from_db()
    assert review.root_cause == "The pool was too small"
    page = responder_client.get(f"/incidents/{resolved.pk}/review/").content.decode()
    assert 'id="review-form"' not in page and "is published and read-only" in page

    assert responder_client.post(url, {"to": "revise"}).status_code == 302
    review.refresh_from_db()
    assert (review.state, review.revision) == ("draft", 2)
    page = responder_client.get(f"/incidents/{resolved.pk}/review/").content.decode()
    assert "current" in page and "editing" in page
    assert responder_client.post(url, {"to": "nonsense"}).status_code == 400


def test_action_items_add_status_and_list(resolved, responder, lead):
    client = client_for(responder)
    url = f"/incidents/{resolved.pk}/review/action-items/"
    yesterday = timezone.localdate() - timedelta(days=1)
    response = client.post(
        url,
        {
            "title": "Raise the pool",
            "owner": lead.pk,
            "due_date": yesterday.isoformat(),
            "link": "tracker.example/1",
        },
    )
    assert response.status_code == 302
    item = ActionItem.objects.get()
    assert item.owner == lead and item.link == "https://tracker.example/1"
    assert client.post(url, {"title": ""}).status_code == 422
    assert client.post(url, {"title": "x", "due_date": "not a date"}).status_code == 422
    assert ActionItem.objects.count() == 1

    page = client.get("/incidents/reviews/action-items/?show=overdue").content.decode()
    assert "Raise the pool" in page and "rv-overdue" in page
    status_url = f"/incidents/{resolved.pk}/review/action-items/{item.pk}/"
    assert client.post(status_url, {"status": "bogus"}).status_code == 400
    assert client.post(status_url, {"status": "done", "next": "items"}).status_code == 302
    item.refresh_from_db()
    assert item.status == "done"
    page = client.get("/incidents/reviews/action-items/").content.decode()
    assert "Raise the pool" not in page  # open only by default


def test_review_list_filters_and_highlights_overdue(resolved, lead):
    fresh = actions.declare_incident(title="Search slow", severity="P2", declared_by=lead)
    actions.change_status(fresh, to="resolved", by=lead)
    PostIncidentReview.objects.filter(incident=resolved).update(
        due_at=timezone.now() - timedelta(hours=1)
    )
    client = client_for(lead)
    page = client.get("/incidents/reviews/").content.decode()
    assert "Checkout returns 502" in page and "Search slow" in page
    assert "rv-overdue" in page and "1 overdue" in page
    page = client.get("/incidents/reviews/", {"overdue": "on"}).content.decode()
    assert "Checkout returns 502" in page and "Search slow" not in page
    page = client.get("/incidents/reviews/", {"severity": "P2"}, **HTMX).content.decode()
    assert "Search slow" in page and "Checkout returns 502" not in page
    assert "<html" not in page  # the htmx part only
    review_actions.save_review(resolved.review, by=lead, fields={"root_cause": "x"})
    review_actions.publish(resolved.review, by=lead)
    page = client.get("/incidents/reviews/", {"state": "published"}).content.decode()
    assert "Checkout returns 502" in page and "Search slow" not in page


def test_review_pages_query_counts_do_not_grow(resolved, lead, django_assert_num_queries):
    client = client_for(lead)
    client.get("/incidents/reviews/")
    # session, user, own + group permissions, overdue count, page count, reviews, services
    with django_assert_num_queries(8):
        client.get("/incidents/reviews/")
    for i in range(5):
        incident = actions.declare_incident(title=f"Other {i}", severity="P1", declared_by=lead)
        actions.change_status(incident, to="resolved", by=lead)
    with django_assert_num_queries(8):
        client.get("/incidents/reviews/")


# Who may do what. The review of a resolved incident exists before each request.
ANON, OUTSIDER, RESPONDER, LEAD, MANAGER = "anon", "outsider", "responder", "lead", "manager"
READ = {OUTSIDER: 403, RESPONDER: 200, LEAD: 200, MANAGER: 200}
EDIT = {OUTSIDER: 403, RESPONDER: 302, LEAD: 302, MANAGER: 302}
PUBLISH = {OUTSIDER: 403, RESPONDER: 403, LEAD: 302, MANAGER: 302}
MANAGERS = {OUTSIDER: 403, RESPONDER: 403, LEAD: 403, MANAGER: 200}
MATRIX = [
    ("get", "/incidents/reviews/", None, READ),
    ("get", "/incidents/reviews/action-items/", None, READ),
    ("get", "/incidents/{pk}/review/", None, READ),
    ("get", "/incidents/{pk}/review/export.md", None, READ),
    ("get", "/incidents/{pk}/review/export.json", None, READ),
    ("post", "/incidents/{pk}/review/", "form", EDIT),
    ("post", "/incidents/{pk}/review/state/", {"to": "in_review"}, EDIT),
    ("post", "/incidents/{pk}/review/state/", {"to": "published"}, PUBLISH),
    ("post", "/incidents/{pk}/review/action-items/", {"title": "Add an alert"}, EDIT),
    ("get", "/incidents/metrics/", None, MANAGERS),
    ("get", "/incidents/metrics/?format=csv", None, MANAGERS),
    ("get", "/incidents/reviews/export/", None, MANAGERS),
]


@pytest.mark.parametrize(
    ("method", "path", "data", "expected"),
    MATRIX,
    ids=[f"{m} {p} {d if isinstance(d, str) else d or ''}" for m, p, d, _ in MATRIX],
)
@pytest.mark.parametrize("who", [ANON, OUTSIDER, RESPONDER, LEAD, MANAGER])
def test_review_permission_matrix(request, resolved, lead, who, method, path, data, expected):
    review_actions.save_review(resolved.review, by=lead, fields={"root_cause": "Known"})
    if data == "form":
        data = form_data(resolved.review)
    client = Client() if who == ANON else client_for(request.getfixturevalue(who))
    response = getattr(client, method)(path.format(pk=resolved.pk), data or {})
    if who == ANON:
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    else:
        assert response.status_code == expected[who], response.content[:300]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/incidents/reviews/"),
        ("post", "/incidents/reviews/action-items/"),
        ("put", "/incidents/{pk}/review/"),
        ("get", "/incidents/{pk}/review/state/"),
        ("get", "/incidents/{pk}/review/action-items/"),
        ("post", "/incidents/{pk}/review/export.pdf"),
        ("post", "/incidents/metrics/"),
        ("put", "/incidents/reviews/export/"),
        ("post", "/incidents/reviews/export/1/"),
        ("post", "/incidents/reviews/export/1/download/"),
    ],
)
def test_wrong_methods_are_405(resolved, manager, method, path):
    response = getattr(client_for(manager), method)(path.format(pk=resolved.pk))
    assert response.status_code == 405


def test_export_download_is_permission_checked(resolved, manager, lead, responder, outsider):
    from incidents.reviews.models import ReviewExport
    from incidents.reviews.tasks import run_export

    today = resolved.declared_at.date().isoformat()
    response = client_for(manager).post(
        "/incidents/reviews/export/", {"date_from": today, "date_to": today, "formats": ["md"]}
    )
    export = ReviewExport.objects.get()
    assert response["Location"] == f"/incidents/reviews/export/{export.pk}/"
    run_export(export.pk)  # the broker publish waits for a commit that a test never makes
    export.refresh_from_db()
    assert export.state == "done"
    url = f"/incidents/reviews/export/{export.pk}/download/"
    for user in (lead, responder, outsider):
        assert client_for(user).get(url).status_code == 403
        assert client_for(user).get(f"/incidents/reviews/export/{export.pk}/").status_code == 403
    assert Client().get(url).status_code == 302
    assert client_for(manager).get(url).status_code == 200


def test_unknown_review_is_404(lead):
    incident = actions.declare_incident(title="Still open", severity="P1", declared_by=lead)
    assert client_for(lead).get(f"/incidents/{incident.pk}/review/").status_code == 404
