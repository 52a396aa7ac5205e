"""GET /api/v1/metrics: managers only, the metrics page's figures for the chosen days (the
same compute() the page and its CSV use), the period form's message on 422, 405, ETags and a
query count that doesn't grow with the incidents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from incidents import actions
from incidents.models import Service
from tests.api.conftest import ROLES, ApiClient, api_client_for, role_clients

EXPECTED = dict(anonymous=401, outsider=403, responder=403, lead=403, manager=200, read_only=200)
PERIOD = {"date_from": "2026-03-02", "date_to": "2026-03-29"}


@pytest.fixture
def clients(responder, lead, manager, outsider) -> dict[str, ApiClient]:
    """Metrics are the managers': the read-only token is a manager's."""
    return role_clients(responder, lead, manager, outsider, read_only_of=manager)


def declare(by, severity: str, day: int, services: list, tta: int, ttr: int | None = None):
    at = datetime(2026, 3, 2, 9, tzinfo=UTC) + timedelta(days=day)
    incident = actions.declare_incident(
        title=f"{severity} on day {day}",
        severity=severity,
        declared_by=by,
        services=services,
        at=at,
    )
    actions.acknowledge(incident, by=by, at=at + timedelta(seconds=tta))
    if ttr is not None:
        actions.change_status(incident, to="resolved", by=by, at=at + timedelta(seconds=ttr))
    return incident


@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(clients, role):
    response = clients[role].get("/api/v1/metrics", **PERIOD)
    assert response.status_code == EXPECTED[role], response.content
    if EXPECTED[role] >= 400:
        assert response["Content-Type"] == "application/problem+json"


def test_wrong_method_is_405(manager_api):
    assert manager_api.post("/api/v1/metrics", {}).status_code == 405


def test_the_pages_figures(manager_api, manager, lead):
    payments = Service.objects.create(name="Payments")
    declare(lead, "P1", 0, [payments], tta=120, ttr=1800)
    declare(lead, "P1", 1, [payments], tta=240, ttr=3600)
    declare(lead, "P1", 8, [payments], tta=600, ttr=7200)
    declare(lead, "P2", 3, [], tta=60)
    declare(lead, "P1", 40, [payments], tta=5, ttr=10)  # after the period
    response = manager_api.get("/api/v1/metrics", **PERIOD)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["last_day"] == "2026-03-29"
    p1 = next(row for row in body["by_severity"] if row["group"] == "P1")
    assert (p1["incidents"], p1["acknowledged"], p1["resolved"]) == (3, 3, 3)
    assert (p1["tta_p50"], p1["ttr_p50"], p1["ttr_p90"]) == (240, 3600, 7200)
    assert body["incidents_declared"] == 4
    assert sum(week["incidents"] for week in body["weeks"]) == 4
    assert next(r for r in body["by_service"] if r["group"] == "Payments")["incidents"] == 3
    assert body["reviews_required"] == 3 and body["review_completion_rate"] == 0
    cached = manager_api.get(
        "/api/v1/metrics", headers={"If-None-Match": response["ETag"]}, **PERIOD
    )
    assert cached.status_code == 304
    # The page's CSV says the same.
    page = api_client_for(manager).client
    page.force_login(manager)
    csv = page.get("/incidents/metrics/", {**PERIOD, "format": "csv"}).content.decode()
    assert "Payments" in csv


def test_backwards_period_is_the_forms_422(manager_api):
    response = manager_api.get("/api/v1/metrics", date_from="2026-03-10", date_to="2026-03-01")
    assert response.status_code == 422
    assert response.json()["detail"] == "The period ends before it starts."
    assert manager_api.get("/api/v1/metrics", date_from="March").status_code == 422


@pytest.mark.parametrize("count", [3, 30])
def test_queries_do_not_grow(django_assert_num_queries, manager_api, lead, count):
    payments = Service.objects.create(name="Payments")
    for n in range(count):
        declare(lead, "P1", n % 28, [payments], tta=60 + n, ttr=600 + n)
    manager_api.get("/api/v1/services")  # the token's first use records it (an UPDATE)
    with django_assert_num_queries(3 + 5):
        assert manager_api.get("/api/v1/metrics", **PERIOD).json()["incidents_declared"] == count
