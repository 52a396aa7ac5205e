"""/api/v1/routing-rules: the permission matrix, the rule form's messages on 422 (named by
the API's fields), the order (added last, moved, kept on replace), 405s and a list whose
query count doesn't grow with the rules."""

from __future__ import annotations

import pytest

from incidents.intake.models import RoutingRule
from tests.api.conftest import ROLES, expected_status

RULE = {
    "name": "Checkout latency to P1",
    "conditions": [
        {"field": "labels.alertname", "op": "equals", "value": "CheckoutLatency"},
        {"field": "labels.team", "op": "exists"},
    ],
    "severity": "P1",
}

MATRIX = [
    ("GET", "/api/v1/routing-rules", None, dict(outsider=403, responder=403, lead=200)),
    ("POST", "/api/v1/routing-rules", RULE, dict(outsider=403, responder=403, lead=201)),
    ("GET", "/api/v1/routing-rules/{id}", None, dict(outsider=403, responder=403, lead=200)),
    ("PUT", "/api/v1/routing-rules/{id}", RULE, dict(outsider=403, responder=403, lead=200)),
    (
        "POST",
        "/api/v1/routing-rules/{id}/move",
        {"direction": "up"},
        dict(outsider=403, responder=403, lead=409),
    ),
    ("DELETE", "/api/v1/routing-rules/{id}", None, dict(outsider=403, responder=403, lead=204)),
]


@pytest.fixture(autouse=True)
def no_seeded_rules(db) -> None:
    """The migrations seed example rules; these tests start from an empty order."""
    RoutingRule.objects.all().delete()


def make_rule(name: str, position: int) -> RoutingRule:
    return RoutingRule.objects.create(
        name=name,
        position=position,
        conditions=[{"field": "labels.severity", "op": "equals", "value": "critical"}],
        severity="P0",
    )


def _state() -> list:
    return list(RoutingRule.objects.values_list("pk", "name", "position", "severity"))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "method,path,body,by_role", MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX]
)
def test_permission_matrix(clients, role, method, path, body, by_role):
    rule = make_rule("Critical pages", 10)
    before = _state()
    response = clients[role].request(method, path.format(id=rule.pk), body)
    expected = expected_status(method, role, by_role)
    assert response.status_code == expected, response.content
    if expected >= 400:
        assert response["Content-Type"] == "application/problem+json"
        assert _state() == before
    elif method != "GET":
        assert _state() != before


def test_wrong_methods_are_405(lead_api):
    rule = make_rule("Critical pages", 10)
    assert lead_api.send("DELETE", "/api/v1/routing-rules").status_code == 405
    assert lead_api.post(f"/api/v1/routing-rules/{rule.pk}", RULE).status_code == 405
    assert lead_api.get(f"/api/v1/routing-rules/{rule.pk}/move").status_code == 405


def test_add_last_replace_move_delete(lead_api, service):
    first = make_rule("Critical pages", 10)
    created = lead_api.post("/api/v1/routing-rules", {**RULE, "service_id": service.pk})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["position"] == 20 and body["service_id"] == service.pk
    assert body["conditions"][1] == {"field": "labels.team", "op": "exists", "value": ""}
    rule = RoutingRule.objects.get(pk=body["id"])
    assert rule.conditions[0] == {
        "field": "labels.alertname",
        "op": "equals",
        "value": "CheckoutLatency",
    }

    dropped = lead_api.send(
        "PUT", f"/api/v1/routing-rules/{rule.pk}", {**RULE, "action": "drop", "enabled": False}
    )
    assert dropped.status_code == 200, dropped.content
    rule.refresh_from_db()
    # A dropped delivery opens nothing: the form clears what would never apply.
    assert (rule.action, rule.severity, rule.enabled, rule.position) == ("drop", "", False, 20)

    moved = lead_api.post(f"/api/v1/routing-rules/{rule.pk}/move", {"direction": "up"})
    assert [r["id"] for r in moved.json()] == [rule.pk, first.pk]
    again = lead_api.post(f"/api/v1/routing-rules/{rule.pk}/move", {"direction": "up"})
    assert again.status_code == 409 and again.json()["detail"] == f"“{rule.name}” is already first."

    assert lead_api.send("DELETE", f"/api/v1/routing-rules/{rule.pk}").status_code == 204
    assert list(RoutingRule.objects.values_list("pk", flat=True)) == [first.pk]
    assert lead_api.get(f"/api/v1/routing-rules/{rule.pk}").status_code == 404


def test_refusals_carry_the_forms_messages(lead_api):
    none = lead_api.post("/api/v1/routing-rules", {**RULE, "conditions": []})
    assert none.status_code == 422
    assert none.json()["detail"] == (
        "Add at least one condition: a rule without one would match every alert."
    )
    bad_field = lead_api.post(
        "/api/v1/routing-rules",
        {**RULE, "conditions": [{"field": "labels.a.b", "op": "equals", "value": "x"}]},
    )
    assert bad_field.json()["errors"][0]["field"] == "conditions.0.field"
    assert bad_field.json()["errors"][0]["message"].startswith("Match on labels.<name>")
    no_value = lead_api.post(
        "/api/v1/routing-rules", {**RULE, "conditions": [{"field": "title", "op": "regex"}]}
    )
    assert no_value.json()["errors"][0] == {
        "field": "conditions.0.value",
        "message": "Give a value for “title” to regex.",
    }
    broken = lead_api.post(
        "/api/v1/routing-rules",
        {**RULE, "conditions": [{"field": "title", "op": "regex", "value": "(unclosed"}]},
    )
    assert broken.status_code == 422
    assert broken.json()["errors"][0]["field"] == "conditions.0.value"
    assert lead_api.post("/api/v1/routing-rules", {**RULE, "service_id": 999}).status_code == 422
    assert not RoutingRule.objects.exists()


@pytest.mark.parametrize("count", [2, 12])
def test_list_queries_do_not_grow(django_assert_num_queries, lead_api, count):
    for n in range(count):
        make_rule(f"Rule {n}", (n + 1) * 10)
    lead_api.get("/api/v1/services")  # the token's first use records it (an UPDATE)
    with django_assert_num_queries(3 + 1):
        assert len(lead_api.get("/api/v1/routing-rules").json()) == count
