"""PATCH /api/v1/incidents/{id}/review and POST …/review/state: the review's sections and
its workflow (send for review, back to draft, publish — leads —, start a revision) through
the review page's form, access helper and actions: matrix, 405, 422, 409 and the state left."""

from __future__ import annotations

import pytest

from incidents import actions
from incidents.reviews import actions as review_actions
from incidents.reviews.models import PostIncidentReview, ReviewRevision
from tests.api.conftest import ROLES, api_client_for, expected_status

MATRIX = [
    (
        "PATCH",
        "/review",
        {"root_cause": "Pool exhausted"},
        dict(outsider=403, responder=200, lead=200),
    ),
    ("POST", "/review/state", {"to": "in_review"}, dict(outsider=403, responder=200, lead=200)),
    ("POST", "/review/state", {"to": "published"}, dict(outsider=403, responder=403, lead=200)),
    ("POST", "/review/state", {"to": "revise"}, dict(outsider=403, responder=409, lead=409)),
]


@pytest.fixture
def resolved(incident, lead):
    actions.change_status(incident, to="resolved", by=lead)
    review_actions.save_review(incident.review, by=lead, fields={"root_cause": "Seeded cause"})
    return incident


def _state(incident) -> tuple:
    review = PostIncidentReview.objects.get(incident=incident)
    return review.state, review.root_cause, ReviewRevision.objects.count()


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "method,path,body,by_role", MATRIX, ids=[f"{m} {p} {b}" for m, p, b, _ in MATRIX]
)
def test_permission_matrix(clients, resolved, role, method, path, body, by_role):
    before = _state(resolved)
    response = clients[role].request(method, f"/api/v1/incidents/{resolved.pk}{path}", body)
    expected = expected_status(method, role, by_role)
    assert response.status_code == expected, response.content
    if expected >= 400:
        assert response["Content-Type"] == "application/problem+json"
        assert _state(resolved) == before
    else:
        assert _state(resolved) != before


def test_wrong_methods_are_405(lead_api, resolved):
    assert lead_api.send("PUT", f"/api/v1/incidents/{resolved.pk}/review", {}).status_code == 405
    assert lead_api.get(f"/api/v1/incidents/{resolved.pk}/review/state").status_code == 405


def test_edit_send_publish_and_revise(lead_api, responder, resolved):
    path = f"/api/v1/incidents/{resolved.pk}/review"
    responder_api = api_client_for(responder)
    first = responder_api.send("PATCH", path, {"summary": "Checkout failed", "users_affected": 40})
    assert first.status_code == 200, first.content
    second = responder_api.send("PATCH", path, {"root_cause": "Pool exhausted"})
    review = PostIncidentReview.objects.get(incident=resolved)
    # Only the fields sent change.
    assert (review.summary, review.root_cause, review.users_affected) == (
        "Checkout failed",
        "Pool exhausted",
        40,
    )
    assert review.updated_by == responder and second.json() == lead_api.get(path).json()

    assert responder_api.post(f"{path}/state", {"to": "in_review"}).status_code == 200
    assert responder_api.post(f"{path}/state", {"to": "published"}).status_code == 403
    assert lead_api.post(f"{path}/state", {"to": "published"}).status_code == 200
    review.refresh_from_db()
    assert review.state == "published" and ReviewRevision.objects.filter(review=review).count() == 1

    locked = lead_api.send("PATCH", path, {"root_cause": "Something else"})
    assert locked.status_code == 409 and locked.json()["detail"]
    assert PostIncidentReview.objects.get(pk=review.pk).root_cause == "Pool exhausted"
    assert lead_api.post(f"{path}/state", {"to": "revise"}).status_code == 200
    assert lead_api.send("PATCH", path, {"root_cause": "Pool and retries"}).status_code == 200


def test_invalid_fields_are_422(lead_api, resolved):
    path = f"/api/v1/incidents/{resolved.pk}/review"
    assert lead_api.send("PATCH", path, {"users_affected": -1}).status_code == 422
    assert lead_api.post(f"{path}/state", {"to": "archived"}).status_code == 422
    assert PostIncidentReview.objects.get(incident=resolved).users_affected is None


def test_open_incident_has_no_review(lead_api, incident):
    path = f"/api/v1/incidents/{incident.pk}/review"
    assert lead_api.send("PATCH", path, {"summary": "x"}).status_code == 404
