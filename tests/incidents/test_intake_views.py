"""Alert intake pages: integrations (the token shown once, rotation, enable/disable), routing
rules (form, order, delete) and the incident page's alerts panel; permissions URL by URL,
CSRF, form errors, and constant query counts."""

from __future__ import annotations

import copy
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.html import strip_tags

from incidents.intake.models import (
    Alert,
    InboundEvent,
    Integration,
    RoutingRule,
    SignatureFailure,
    token_digest,
)
from incidents.intake.routing import DEFAULT_RULES
from incidents.models import Incident, Service, TimelineEvent
from runbooks.importer import import_runbook
from tests.conftest import HTMX, client_for
from tests.incidents.test_intake import (
    ALERTMANAGER,
    RUNBOOK,
    deliver,
    make_integration,
    post,
)

ANON, OUTSIDER, RESPONDER, LEAD, MANAGER = "anon", "outsider", "responder", "lead", "manager"
TOKEN_IN_URL = re.compile(r"/hooks/(\w+)/([A-Za-z0-9_-]{40,})/")


def text_of(response) -> str:
    """The page as a reader sees it: tags gone, whitespace folded."""
    return " ".join(strip_tags(response.content.decode()).split())


def shown_token(response) -> str:
    match = TOKEN_IN_URL.search(response.content.decode())
    assert match, "no hook URL with a token on the page"
    return match.group(2)


def rule_data(**overrides) -> dict:
    data = {
        "name": "Checkout latency",
        "integration": "",
        "action": "route",
        "severity": "P1",
        "service": "",
        "scenario_title": "",
        "enabled": "on",
        "field_0": "labels.alertname",
        "op_0": "equals",
        "value_0": "CheckoutLatency",
    }
    for index in range(1, 5):
        data |= {f"field_{index}": "", f"op_{index}": "equals", f"value_{index}": ""}
    data.update(overrides)
    return data


@pytest.fixture
def rules(db) -> list[RoutingRule]:
    """The first default rules, as migration 0006 adds them (a transactional test elsewhere
    may have flushed the migration's rows)."""
    RoutingRule.objects.all().delete()
    return [
        RoutingRule.objects.create(
            position=(index + 1) * 10,
            name=f"{alertname} → {severity}",
            conditions=[{"field": "labels.alertname", "op": "equals", "value": alertname}],
            severity=severity,
            scenario_title=scenario,
        )
        for index, (alertname, severity, scenario) in enumerate(DEFAULT_RULES[:3])
    ]


# -- permissions, URL by URL -----------------------------------------------------------------
# (method, path, data, status for a lead and a manager); responders and outsiders get 403,
# anonymous users the login page.
MATRIX = [
    ("get", "/incidents/integrations/", None, 200),
    ("get", "/incidents/integrations/new/", None, 200),
    (
        "post",
        "/incidents/integrations/new/",
        {
            "name": "New one",
            "kind": "generic",
            "default_severity": "P2",
            "rate_limit_per_minute": "60",
        },
        200,
    ),
    ("get", "/incidents/integrations/{integration}/", None, 200),
    (
        "post",
        "/incidents/integrations/{integration}/",
        {"name": "Renamed", "default_severity": "P1", "rate_limit_per_minute": "60"},
        302,
    ),
    ("get", "/incidents/integrations/{integration}/rotate/", None, 200),
    ("post", "/incidents/integrations/{integration}/rotate/", {}, 200),
    ("post", "/incidents/integrations/{integration}/enabled/", {"enabled": "0"}, 302),
    ("get", "/incidents/integrations/rules/", None, 200),
    ("get", "/incidents/integrations/rules/new/", None, 200),
    ("post", "/incidents/integrations/rules/new/", rule_data(), 302),
    ("get", "/incidents/integrations/rules/{rule}/", None, 200),
    ("post", "/incidents/integrations/rules/{rule}/", rule_data(name="Edited"), 302),
    ("post", "/incidents/integrations/rules/{rule}/move/", {"direction": "up"}, 302),
    ("post", "/incidents/integrations/rules/{rule}/enabled/", {"enabled": "0"}, 302),
    ("post", "/incidents/integrations/rules/{rule}/delete/", {}, 302),
]


def snapshot() -> tuple:
    """Everything the intake pages can change."""
    return (
        list(Integration.objects.order_by("pk").values_list("name", "token_hash", "enabled")),
        list(RoutingRule.objects.order_by("pk").values_list("name", "position", "enabled")),
    )


@pytest.mark.parametrize(
    ("method", "path", "data", "expected"), MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX]
)
@pytest.mark.parametrize("who", [ANON, OUTSIDER, RESPONDER, LEAD, MANAGER])
def test_permission_matrix(request, rules, who, method, path, data, expected):
    integration, _ = make_integration(kind="generic", name="Scripts")
    rule = rules[-1]
    url = path.format(integration=integration.pk, rule=rule.pk)
    client = Client() if who == ANON else client_for(request.getfixturevalue(who))
    before = snapshot()

    response = getattr(client, method)(url, data or {})

    if who == ANON:
        assert response.status_code == 302
        assert response["Location"].startswith("/login/?next=")
    elif who in (OUTSIDER, RESPONDER):
        assert response.status_code == 403, response.content[:200]
        assert "Your role does not allow this" in response.content.decode()
    else:
        assert response.status_code == expected, response.content[:300]
    if method == "post" and who in (LEAD, MANAGER):
        assert snapshot() != before
    else:
        assert snapshot() == before


@pytest.mark.parametrize(
    "path",
    [
        "/incidents/integrations/{integration}/enabled/",
        "/incidents/integrations/rules/{rule}/move/",
        "/incidents/integrations/rules/{rule}/enabled/",
        "/incidents/integrations/rules/{rule}/delete/",
    ],
)
def test_post_only_endpoints_refuse_get_with_405(lead_client, rules, path):
    integration, _ = make_integration(kind="generic")
    rule = rules[0]
    response = lead_client.get(path.format(integration=integration.pk, rule=rule.pk))
    assert response.status_code == 405


def test_pages_refuse_other_methods_with_405(lead_client):
    assert lead_client.delete("/incidents/integrations/new/").status_code == 405
    assert lead_client.post("/incidents/integrations/").status_code == 405
    assert lead_client.post("/incidents/integrations/rules/").status_code == 405


@pytest.mark.parametrize(
    "path",
    [
        "/incidents/integrations/new/",
        "/incidents/integrations/{integration}/rotate/",
        "/incidents/integrations/{integration}/enabled/",
        "/incidents/integrations/rules/new/",
        "/incidents/integrations/rules/{rule}/delete/",
        "/incidents/integrations/rules/{rule}/move/",
    ],
)
def test_posts_without_the_csrf_token_are_refused(lead, rules, path):
    integration, _ = make_integration(kind="generic")
    rule = rules[0]
    client = Client(enforce_csrf_checks=True)
    client.force_login(lead)
    before = snapshot()
    data = {"name": "Sneaky", "kind": "generic", "enabled": "0", "direction": "down"}
    response = client.post(path.format(integration=integration.pk, rule=rule.pk), data)
    assert response.status_code == 403
    assert snapshot() == before


def test_the_nav_shows_integrations_to_leads_only(responder_client, lead_client):
    assert "/incidents/integrations/" not in responder_client.get("/incidents/").content.decode()
    page = lead_client.get("/incidents/integrations/").content.decode()
    assert re.search(r'href="/incidents/integrations/" aria-current="page">Integrations', page)
    assert not re.search(r'href="/incidents/" aria-current="page"', page)


# -- creating an integration: the token once --------------------------------------------------
def test_creating_a_generic_integration_shows_its_url_once(lead_client, lead, client):
    service = Service.objects.create(name="Checkout")
    response = lead_client.post(
        "/incidents/integrations/new/",
        {
            "name": "  Cron scripts  ",
            "kind": "generic",
            "default_service": service.pk,
            "default_severity": "P1",
            "auto_resolve": "on",
            "rate_limit_per_minute": "120",
        },
    )
    assert response.status_code == 200
    integration = Integration.objects.get()
    assert (integration.name, integration.kind, integration.default_service) == (
        "Cron scripts",
        "generic",
        service,
    )
    assert integration.default_severity == "P1" and integration.auto_resolve
    assert integration.rate_limit_per_minute == 120 and integration.created_by == lead
    # The whole URL, absolute, with the token whose hash is stored; a copy button; the warning.
    token = shown_token(response)
    assert token_digest(token) == integration.token_hash
    page = response.content.decode()
    assert f'<pre id="hook-url">http://testserver/hooks/generic/{token}/</pre>' in page
    assert "data-copy" in page and "<script" not in page.split("</head>")[1]
    assert "won't be shown again" in text_of(response)
    assert "curl -X POST -H 'Content-Type: application/json' -d '{\"title\": " in page.replace(
        "&#x27;", "'"
    ).replace("&quot;", '"')
    assert "no-store" in response["Cache-Control"]
    # The URL works; the list never shows the token again.
    assert post(client, integration, token, {"title": "Disk full"}).status_code == 202
    listing = lead_client.get("/incidents/integrations/").content.decode()
    assert token not in listing
    assert f"/hooks/generic/{token[:6]}…/" in listing


def test_an_alertmanager_integration_gets_a_receiver_snippet(lead_client):
    response = lead_client.post(
        "/incidents/integrations/new/",
        {
            "name": "Prometheus",
            "kind": "alertmanager",
            "default_severity": "P2",
            "rate_limit_per_minute": "600",
        },
    )
    assert response.status_code == 200
    token = shown_token(response)
    assert "webhook_configs:" in response.content.decode()
    assert f"url: http://testserver/hooks/alertmanager/{token}/" in response.content.decode()


def test_a_stripe_integration_names_its_secret_variable(lead_client, monkeypatch):
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET", raising=False)
    response = lead_client.post(
        "/incidents/integrations/new/",
        {
            "name": "Stripe live",
            "kind": "stripe",
            "default_severity": "P0",
            "rate_limit_per_minute": "600",
            "signing_secret_env": "STRIPE_WEBHOOK_SECRET",
        },
    )
    assert response.status_code == 200
    assert Integration.objects.get().signing_secret_env == "STRIPE_WEBHOOK_SECRET"
    assert "$STRIPE_WEBHOOK_SECRET is not set" in text_of(response)
    listing = text_of(lead_client.get("/incidents/integrations/"))
    assert "$STRIPE_WEBHOOK_SECRET not set" in listing
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_test")
    assert "not set" not in text_of(lead_client.get("/incidents/integrations/"))


VALID = {
    "name": "Prometheus",
    "kind": "alertmanager",
    "default_severity": "P2",
    "rate_limit_per_minute": "600",
}


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": "   "}, "name", "This field is required"),
        ({"kind": "nagios"}, "kind", "Select a valid choice"),
        ({"rate_limit_per_minute": "0"}, "rate_limit_per_minute", "greater than or equal to 1"),
        ({"rate_limit_per_minute": "lots"}, "rate_limit_per_minute", "Enter a whole number"),
        ({"kind": "stripe"}, "signing_secret_env", "name the environment variable"),
        (
            {"kind": "stripe", "signing_secret_env": "stripe secret"},
            "signing_secret_env",
            "capital letters, digits and underscores",
        ),
        (
            {"kind": "stripe", "signing_secret_env": "whsec_abc123"},
            "signing_secret_env",
            "looks like the secret itself",
        ),
        (
            {"signing_secret_env": "STRIPE_WEBHOOK_SECRET"},
            "signing_secret_env",
            "Only Stripe integrations",
        ),
        ({"name": "Taken"}, "name", "Another integration already has this name"),
    ],
)
def test_integration_form_errors_are_shown_inline_and_nothing_is_stored(
    lead_client, changes, field, message
):
    make_integration(kind="generic", name="Taken")
    before = snapshot()
    response = lead_client.post("/incidents/integrations/new/", {**VALID, **changes})
    assert response.status_code == 422
    form = response.context["form"]
    assert any(message in error for error in form.errors[field]), form.errors
    page = response.content.decode()
    assert "Fix the fields marked below; nothing was created yet." in page
    assert 'class="field-error"' in page and "/hooks/" not in page
    assert snapshot() == before


def test_editing_keeps_the_kind_and_the_token(lead_client):
    integration, token = make_integration(kind="generic", name="Scripts")
    response = lead_client.post(
        f"/incidents/integrations/{integration.pk}/",
        {
            "name": "Scripts (prod)",
            "kind": "stripe",
            "default_severity": "P0",
            "rate_limit_per_minute": "30",
        },
    )
    assert response.status_code == 302 and response["Location"] == "/incidents/integrations/"
    integration.refresh_from_db()
    assert (integration.name, integration.kind, integration.default_severity) == (
        "Scripts (prod)",
        "generic",
        "P0",
    )
    assert integration.token_hash == token_digest(token)


def test_the_edit_page_lists_recent_deliveries(lead_client):
    integration, _ = make_integration(kind="generic")
    event = deliver(integration, {"title": "Queue lag"})
    InboundEvent.objects.create(
        integration=integration, body="{}", state="failed", error="title is required"
    )
    page = text_of(lead_client.get(f"/incidents/integrations/{integration.pk}/"))
    assert "Processed" in page and event.incident.reference in page
    assert "Failed title is required" in page


# -- rotation and enable/disable --------------------------------------------------------------
def test_rotation_asks_first_then_the_old_token_stops_working(lead_client, client):
    integration, old = make_integration(kind="generic")
    confirm = lead_client.get(f"/incidents/integrations/{integration.pk}/rotate/")
    assert confirm.status_code == 200
    assert "stops working within seconds of your confirming" in text_of(confirm)
    integration.refresh_from_db()
    assert integration.token_hash == token_digest(old) and integration.rotated_at is None

    response = lead_client.post(f"/incidents/integrations/{integration.pk}/rotate/")
    assert response.status_code == 200
    new = shown_token(response)
    assert new != old and "previous URL stopped working" in text_of(response)
    assert "no-store" in response["Cache-Control"]
    integration.refresh_from_db()
    assert integration.token_hash == token_digest(new) and integration.rotated_at is not None
    assert post(client, integration, old, {"title": "Disk full"}).status_code == 404
    assert post(client, integration, new, {"title": "Disk full"}).status_code == 202


def test_a_disabled_integration_refuses_deliveries_until_enabled(lead_client, client):
    integration, token = make_integration(kind="generic")
    url = f"/incidents/integrations/{integration.pk}/enabled/"
    response = lead_client.post(url, {"enabled": "0"}, follow=True)
    assert "answers 404 until it is enabled" in text_of(response)
    assert "Disabled" in text_of(response)
    assert post(client, integration, token, {"title": "Disk full"}).status_code == 404
    lead_client.post(url, {"enabled": "1"})
    assert post(client, integration, token, {"title": "Disk full"}).status_code == 202
    bad = lead_client.post(url, {"enabled": "maybe"})
    assert bad.status_code == 400 and "enabled=1" in bad.content.decode()


# -- the list ---------------------------------------------------------------------------------
def make_traffic(count: int) -> list[Integration]:
    integrations = []
    now = timezone.now()
    for n in range(count):
        integration, _ = make_integration(
            kind="generic" if n % 2 else "stripe",
            name=f"integration {n:02d}",
            signing_secret_env="" if n % 2 else "STRIPE_SECRET",
        )
        integrations.append(integration)
        InboundEvent.objects.bulk_create(
            [
                InboundEvent(
                    integration=integration,
                    body="{}",
                    state=state,
                    received_at=now - timedelta(minutes=minutes),
                )
                for state, minutes in [
                    ("processed", 5),
                    ("processed", 50),
                    ("dropped", 70),
                    ("failed", 90),
                    ("pending", 1),
                    ("processed", 60 * 30),
                ]
            ]
        )
        SignatureFailure.objects.create(integration=integration, reason="bad signature")
    return integrations


@pytest.mark.parametrize("size", [3, 30])
def test_integration_list_queries_do_not_grow(lead_client, size, django_assert_num_queries):
    make_traffic(size)
    # session, user, user permissions, group permissions, the integrations (+ default
    # service) with their last delivery, last day's deliveries by state and bad signatures,
    # the failed deliveries (with their integration)
    with django_assert_num_queries(6):
        response = lead_client.get("/incidents/integrations/")
    assert response.status_code == 200
    assert len(response.context["integrations"]) == size


def test_the_list_shows_traffic_by_state(lead_client):
    first = make_traffic(1)[0]
    row = next(i for i in lead_client.get("/incidents/integrations/").context["integrations"])
    assert row == first
    # The delivery 30 hours ago counts for "last delivery" only if newest; it is not.
    assert row.deliveries_24h == 5
    assert row.by_state == [("pending", 1), ("processed", 2), ("dropped", 1), ("failed", 1)]
    assert row.bad_signatures == 1
    assert timezone.now() - row.last_delivery_at < timedelta(minutes=2)
    page = text_of(lead_client.get("/incidents/integrations/"))
    assert "5 1 pending 2 processed 1 dropped 1 failed 1 bad signature" in page
    assert "ago" in page


def test_the_list_with_nothing_yet_says_what_to_do(lead_client):
    assert "No integrations yet." in text_of(lead_client.get("/incidents/integrations/"))


# -- routing rules ----------------------------------------------------------------------------
def test_rules_page_renders_each_rule_in_order(lead_client, rules):
    RoutingRule.objects.create(
        position=5,
        name="Drop staging",
        action="drop",
        conditions=[
            {"field": "labels.env", "op": "regex", "value": "stag.*"},
            {"field": "labels.team", "op": "exists"},
        ],
    )
    response = lead_client.get("/incidents/integrations/rules/")
    assert response.status_code == 200
    names = [rule.name for rule in response.context["rules"]]
    assert names[0] == "Drop staging" and names[1] == "DatabaseConnectionExhaustion → P0"
    page = text_of(response)
    assert "labels.alertname = DatabaseConnectionExhaustion" in page
    assert "labels.env =~ stag.* and labels.team exists" in page
    assert "Drop no incident" in page and "all integrations" in page
    # No runbook is imported: the default rules' scenarios would attach nothing, and say so.
    assert "no such scenario" in page


@pytest.mark.parametrize("size", [3, 30])
def test_rules_page_queries_do_not_grow(lead_client, size, django_assert_num_queries):
    RoutingRule.objects.all().delete()
    integration, _ = make_integration(kind="generic")
    service = Service.objects.create(name="Checkout")
    RoutingRule.objects.bulk_create(
        RoutingRule(
            position=n,
            name=f"rule {n}",
            integration=integration if n % 2 else None,
            service=service if n % 3 else None,
            conditions=[{"field": "labels.alertname", "op": "equals", "value": f"A{n}"}],
            scenario_title="High Latency",
        )
        for n in range(size)
    )
    # session, user, user permissions, group permissions, the rules (+ integration, service),
    # the current scenarios' titles
    with django_assert_num_queries(6):
        response = lead_client.get("/incidents/integrations/rules/")
    assert len(response.context["rules"]) == size


def test_adding_a_rule_puts_it_last_and_it_routes(lead_client, rules):
    integration, _ = make_integration(kind="generic")
    service = Service.objects.create(name="Checkout")
    last = RoutingRule.objects.order_by("-position").first().position
    response = lead_client.post(
        "/incidents/integrations/rules/new/",
        rule_data(
            integration=integration.pk,
            service=service.pk,
            field_1="labels.service",
            op_1="exists",
            value_1="",
            field_3="title",
            op_3="regex",
            value_3="Checkout.*",
        ),
    )
    rule = RoutingRule.objects.get(name="Checkout latency")
    assert response.status_code == 302
    assert response["Location"] == f"/incidents/integrations/rules/#rule-{rule.pk}"
    assert rule.position == last + 10 and rule.integration == integration
    assert rule.conditions == [
        {"field": "labels.alertname", "op": "equals", "value": "CheckoutLatency"},
        {"field": "labels.service", "op": "exists"},
        {"field": "title", "op": "regex", "value": "Checkout.*"},
    ]
    assert (rule.severity, rule.service, rule.enabled) == ("P1", service, True)
    event = deliver(integration, {"title": "CheckoutLatency", "service": "web", "severity": "P3"})
    assert event.incident.severity == "P1"
    assert list(event.incident.services.all()) == [service]


def test_editing_a_rule_shows_its_conditions_and_saves_them(lead_client, rules):
    rule = rules[0]
    form = lead_client.get(f"/incidents/integrations/rules/{rule.pk}/").content.decode()
    assert 'value="labels.alertname"' in form and 'value="DatabaseConnectionExhaustion"' in form
    response = lead_client.post(
        f"/incidents/integrations/rules/{rule.pk}/",
        rule_data(name="DB", action="drop", scenario_title="Anything", severity="P0"),
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.name, rule.action, rule.severity, rule.scenario_title) == ("DB", "drop", "", "")


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"op_0": "regex", "value_0": "(unclosed"}, "value_0", "bad regular expression"),
        ({"field_0": "label.alertname"}, "field_0", "Match on labels.<name>"),
        ({"field_0": "labels."}, "field_0", "Match on labels.<name>"),
        ({"field_0": ""}, "field_0", "Name the field"),
        ({"value_0": ""}, "value_0", "Give a value"),
        ({"op_0": "like"}, "op_0", "Select a valid choice"),
        ({"field_0": "", "value_0": ""}, "__all__", "at least one condition"),
        ({"name": ""}, "name", "required"),
        ({"severity": "P9"}, "severity", "Select a valid choice"),
        ({"action": "page"}, "action", "Select a valid choice"),
        ({"integration": "99999"}, "integration", "Select a valid choice"),
    ],
)
def test_rule_form_errors_are_shown_inline_and_nothing_is_stored(
    lead_client, changes, field, message
):
    before = snapshot()
    response = lead_client.post("/incidents/integrations/rules/new/", rule_data(**changes))
    assert response.status_code == 422
    errors = response.context["form"].errors
    assert any(message in error for error in errors[field]), errors
    assert "nothing was saved yet" in text_of(response)
    assert snapshot() == before


def test_the_scenario_datalist_offers_current_versions_only(lead_client):
    import_runbook(RUNBOOK.replace("Database Connection Exhaustion", "Storm"), filename="db.md")
    import_runbook(RUNBOOK, filename="db.md")
    response = lead_client.get("/incidents/integrations/rules/new/")
    assert response.context["scenario_titles"] == ["Database Connection Exhaustion"]
    assert '<option value="Database Connection Exhaustion">' in response.content.decode()


def positions() -> list[str]:
    return list(RoutingRule.objects.order_by("position", "id").values_list("name", flat=True))


def test_moving_rules_swaps_neighbours(lead_client):
    RoutingRule.objects.all().delete()
    for name in ("a", "b", "c"):
        RoutingRule.objects.create(name=name, position=7, conditions=[])  # ties
    a, b, c = (RoutingRule.objects.get(name=n) for n in "abc")
    lead_client.post(f"/incidents/integrations/rules/{c.pk}/move/", {"direction": "up"})
    assert positions() == ["a", "c", "b"]
    lead_client.post(f"/incidents/integrations/rules/{a.pk}/move/", {"direction": "down"})
    assert positions() == ["c", "a", "b"]
    assert list(RoutingRule.objects.order_by("position").values_list("position", flat=True)) == [
        10,
        20,
        30,
    ]
    response = lead_client.post(
        f"/incidents/integrations/rules/{c.pk}/move/", {"direction": "up"}, follow=True
    )
    assert "already first" in text_of(response) and positions() == ["c", "a", "b"]
    bad = lead_client.post(f"/incidents/integrations/rules/{b.pk}/move/", {"direction": "left"})
    assert bad.status_code == 400


def test_disabling_and_deleting_a_rule(lead_client, rules):
    rule = rules[0]
    response = lead_client.post(
        f"/incidents/integrations/rules/{rule.pk}/enabled/", {"enabled": "0"}, follow=True
    )
    rule.refresh_from_db()
    assert not rule.enabled and "is skipped" in text_of(response)
    assert "Disabled" in text_of(response)
    assert (
        lead_client.post(
            f"/incidents/integrations/rules/{rule.pk}/enabled/", {"enabled": "x"}
        ).status_code
        == 400
    )
    count = RoutingRule.objects.count()
    lead_client.post(f"/incidents/integrations/rules/{rule.pk}/delete/")
    assert RoutingRule.objects.count() == count - 1
    assert lead_client.get(f"/incidents/integrations/rules/{rule.pk}/").status_code == 404


# -- the incident page's alerts panel ---------------------------------------------------------
def alertmanager_incident() -> tuple[Incident, Integration]:
    integration, _ = make_integration(name="Prometheus production")
    payload = copy.deepcopy(ALERTMANAGER)
    payload["alerts"][1]["annotations"]["runbook_url"] = "javascript:alert(1)"
    payload["alerts"][1]["generatorURL"] = "data:text/html,<b>x</b>"
    event = deliver(integration, payload)
    resolved = copy.deepcopy(payload)
    resolved["alerts"] = [resolved["alerts"][0]]
    resolved["alerts"][0] |= {"status": "resolved", "endsAt": "2026-11-23T10:30:00.000Z"}
    deliver(integration, resolved)
    return event.incident, integration


def test_the_incident_page_shows_its_alerts_firing_first(lead_client):
    incident, _ = alertmanager_incident()
    response = lead_client.get(incident.get_absolute_url())
    page = response.content.decode()
    panel = page[page.index('<section id="alerts"') : page.index('<section id="checklists"')]
    # db-2 still fires; db-1 resolved: firing first.
    assert panel.index("db-2:9187") < panel.index("db-1:9187")
    assert "1 firing" in text_of(response) and "1 resolved" in text_of(response)
    first, second = response.context["alerts"]["rows"]
    assert (first.alert.status, second.alert.status) == ("firing", "resolved")
    # Key labels beside the name, every label in the details.
    assert "instancedb-2:9187" in strip_tags(panel).replace(" ", "").replace("\n", "")
    assert "<summary>All labels (5)" in panel
    # Annotations and links: http(s) only, opened without an opener.
    assert "Connections at 95% of max_connections" in panel
    assert "db-1 has 95 of 100 connections in use for 5 minutes." in panel
    assert '<a href="https://runbooks.example.org/db#exhaustion" rel="noopener noreferrer"' in panel
    assert '<a href="http://prometheus.example.org/graph?g0.expr=pg_connections"' in panel
    assert "javascript:" not in panel and "data:text" not in panel
    assert panel.count("Source ↗") == 1 and panel.count("Runbook ↗") == 1
    assert "2 deliveries" in strip_tags(panel) and "via Prometheus production" in panel


def test_alert_events_are_rendered_on_the_timeline(lead_client):
    incident, _ = alertmanager_incident()
    deliver(
        Integration.objects.get(),
        {
            **ALERTMANAGER,
            "status": "resolved",
            "alerts": [
                {**a, "status": "resolved", "endsAt": "2026-11-23T10:40:00.000Z"}
                for a in ALERTMANAGER["alerts"]
            ],
        },
    )
    TimelineEvent.objects.create(
        incident=incident,
        kind=TimelineEvent.Kind.SECURITY_SIGNAL,
        text="3 webhook deliveries failed signature verification in 5 minutes",
        data={"failures": 3},
    )
    response = lead_client.get(incident.get_absolute_url())
    page = response.content.decode()
    assert page.count('class="event event-alert_firing') == 2
    assert page.count('class="event event-alert_resolved') == 2
    resolved_all = page[page.index('class="event event-alerts_resolved') :]
    resolved_all = text_of_html(resolved_all[: resolved_all.index("</li>")])
    assert "resolved all 2 alerts of this incident" in resolved_all
    assert "all 2 alerts resolved" not in resolved_all  # the data says it; no repetition
    alert = incident.alerts.get(labels__instance="db-1:9187")
    assert f'href="#alert-{alert.pk}">DatabaseConnectionExhaustion</a>' in page
    signal = page[page.index('class="event event-security_signal') :]
    assert "security signal" in signal[:600] and "failed signature verification" in signal[:900]


def text_of_html(html: str) -> str:
    return " ".join(strip_tags(html).split())


def test_the_panel_is_an_empty_placeholder_without_alerts(lead_client, incident):
    page = lead_client.get(incident.get_absolute_url()).content.decode()
    assert '<section id="alerts" class="al-panel is-empty">' in page
    assert "alerts-title" not in page


def test_the_poll_sends_the_alerts_panel_out_of_band(lead_client):
    incident, integration = alertmanager_incident()
    since = incident.events.order_by("-id").first().pk
    payload = copy.deepcopy(ALERTMANAGER)
    payload["alerts"][1] |= {"status": "resolved", "endsAt": "2026-11-23T10:45:00.000Z"}
    deliver(integration, payload)
    response = lead_client.get(f"/incidents/{incident.pk}/timeline/?since={since}", **HTMX)
    assert response.status_code == 200
    fragment = response.content.decode()
    assert (
        '<section id="alerts" class="al-panel" aria-labelledby="alerts-title" '
        'hx-swap-oob="true">' in fragment
    )
    assert "1 firing" in text_of_html(fragment)


def add_alerts(incident: Incident, integration: Integration, count: int) -> None:
    now = timezone.now()
    Alert.objects.bulk_create(
        Alert(
            integration=integration,
            incident=incident,
            key=f"k{n}",
            name=f"Alert{n}",
            status="firing" if n % 3 else "resolved",
            labels={"alertname": f"Alert{n}", "instance": f"web-{n}:9100", "job": "node"},
            annotations={"summary": f"summary {n}", "runbook_url": "https://example.org/rb"},
            source_url="https://prometheus.example.org/graph",
            first_seen=now - timedelta(minutes=n),
            last_seen=now,
            deliveries=n + 1,
        )
        for n in range(count)
    )


@pytest.mark.parametrize("size", [2, 40])
def test_incident_page_and_poll_queries_do_not_grow_with_alerts(
    lead_client, responder, size, django_assert_num_queries
):
    integration, _ = make_integration(kind="generic")
    from incidents import actions

    incident = actions.declare_incident(title="Many alerts", severity="P1", declared_by=responder)
    add_alerts(incident, integration, size)
    # the 22 (page) of tests/incidents/test_query_counts.py, the alerts (+ integration) among
    # them, plus the escalation ladder and its pages (none paged: no deliveries query)
    with django_assert_num_queries(22):
        response = lead_client.get(incident.get_absolute_url())
    assert response.status_code == 200
    assert response.content.decode().count('class="al-alert ') == size
    # the poll: the page's live parts without the editor's and the declare form's queries
    with django_assert_num_queries(20):
        response = lead_client.get(f"/incidents/{incident.pk}/timeline/?since=0", **HTMX)
    assert response.content.decode().count('class="al-alert ') == size
