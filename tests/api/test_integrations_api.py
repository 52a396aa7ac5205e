"""/api/v1/integrations: the permission matrix, the token shown once (and never cached), the
form's messages on 422, the state updates leave, 405s and a list whose query count doesn't
grow with the integrations."""

from __future__ import annotations

import json

import pytest

from incidents.intake.models import InboundEvent, Integration, token_digest
from tests.api.conftest import ROLES, expected_status
from tests.incidents.payloads import ALERTMANAGER

NEW = {"name": "Prometheus production", "kind": "alertmanager", "default_severity": "P1"}
EDIT = {"name": "Prometheus prod EU", "default_severity": "P3", "rate_limit_per_minute": 60}

MATRIX = [
    ("GET", "/api/v1/integrations", None, dict(outsider=403, responder=403, lead=200)),
    ("POST", "/api/v1/integrations", NEW, dict(outsider=403, responder=403, lead=201)),
    ("GET", "/api/v1/integrations/{id}", None, dict(outsider=403, responder=403, lead=200)),
    ("PUT", "/api/v1/integrations/{id}", EDIT, dict(outsider=403, responder=403, lead=200)),
]


def make_integration(name: str, kind: str = "alertmanager") -> Integration:
    integration = Integration(name=name, kind=kind)
    integration.new_token()
    integration.save()
    return integration


def _state() -> list:
    return list(Integration.objects.order_by("pk").values_list("name", "default_severity"))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "method,path,body,by_role", MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX]
)
def test_permission_matrix(clients, role, method, path, body, by_role):
    integration = make_integration("Grafana")
    before = _state()
    response = clients[role].request(method, path.format(id=integration.pk), body)
    expected = expected_status(method, role, by_role)
    assert response.status_code == expected, response.content
    if expected >= 400:
        assert response["Content-Type"] == "application/problem+json"
        assert _state() == before
    elif method != "GET":
        assert _state() != before


def test_wrong_methods_are_405(lead_api):
    integration = make_integration("Grafana")
    assert lead_api.send("DELETE", f"/api/v1/integrations/{integration.pk}").status_code == 405
    assert lead_api.send("PUT", "/api/v1/integrations", EDIT).status_code == 405
    assert lead_api.post(f"/api/v1/integrations/{integration.pk}", EDIT).status_code == 405


def test_create_shows_the_token_once_and_it_works(lead_api, lead, service):
    created = lead_api.post("/api/v1/integrations", {**NEW, "default_service_id": service.pk})
    assert created.status_code == 201, created.content
    assert "no-store" in created["Cache-Control"]
    body = created.json()
    token = body["hook_url"].rstrip("/").rsplit("/", 1)[1]
    integration = Integration.objects.get(pk=body["id"])
    assert integration.token_hash == token_digest(token) and integration.created_by == lead
    assert integration.default_service == service and integration.default_severity == "P1"
    assert (
        body["secret"] == "" and token not in lead_api.get("/api/v1/integrations").content.decode()
    )
    # The URL takes an Alertmanager delivery.
    hook = lead_api.client.post(
        body["hook_url"], json.dumps(ALERTMANAGER), content_type="application/json"
    )
    assert hook.status_code == 202, hook.content
    assert InboundEvent.objects.get().integration == integration

    pagerduty = lead_api.post("/api/v1/integrations", {"name": "PD bridge", "kind": "pagerduty"})
    assert len(pagerduty.json()["secret"]) == 32


def test_refusals_carry_the_forms_messages(lead_api):
    make_integration("Grafana")
    taken = lead_api.post("/api/v1/integrations", {**NEW, "name": "Grafana"})
    assert taken.status_code == 422
    assert taken.json()["errors"] == [
        {"field": "name", "message": "Another integration already has this name; pick another."}
    ]
    stripe = lead_api.post("/api/v1/integrations", {"name": "Payments", "kind": "stripe"})
    assert stripe.json()["errors"][0]["field"] == "signing_secret_env"
    pasted = lead_api.post(
        "/api/v1/integrations",
        {"name": "Payments", "kind": "stripe", "signing_secret_env": "whsec_abc"},
    )
    assert pasted.json()["errors"][0]["message"].startswith("This looks like the secret itself.")
    assert (
        lead_api.post("/api/v1/integrations", {**NEW, "kind": "carrier-pigeon"}).status_code == 422
    )
    assert Integration.objects.count() == 1


def test_update_keeps_kind_and_token(lead_api):
    integration = make_integration("Grafana", kind="grafana")
    digest = integration.token_hash
    response = lead_api.send("PUT", f"/api/v1/integrations/{integration.pk}", EDIT)
    assert response.status_code == 200, response.content
    assert response.json()["kind"] == "grafana" and response.json()["auto_resolve"] is True
    integration.refresh_from_db()
    assert (integration.name, integration.rate_limit_per_minute) == ("Prometheus prod EU", 60)
    assert integration.kind == "grafana" and integration.token_hash == digest
    blank = lead_api.send("PUT", f"/api/v1/integrations/{integration.pk}", {"name": "  "})
    assert blank.status_code == 422 and blank.json()["errors"][0]["field"] == "name"
    assert Integration.objects.get(pk=integration.pk).name == "Prometheus prod EU"
    assert lead_api.send("PUT", "/api/v1/integrations/99999", EDIT).status_code == 404


@pytest.mark.parametrize("count", [2, 12])
def test_list_queries_do_not_grow(django_assert_num_queries, lead_api, count):
    for n in range(count):
        integration = make_integration(f"I{n}")
        InboundEvent.objects.receive(integration, "{}")
    lead_api.get("/api/v1/services")  # the token's first use records it (an UPDATE)
    # The token and the user's permissions (3 queries), then the integrations (1).
    with django_assert_num_queries(3 + 1):
        listed = lead_api.get("/api/v1/integrations").json()
    assert len(listed) == count and listed[0]["deliveries_24h"]["pending"] == 1
