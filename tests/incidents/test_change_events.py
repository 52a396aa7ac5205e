"""PagerDuty change events: stored for the integration's service, written on its open
incidents' timelines, shown in the incident page's "Recent changes" panel."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from incidents import actions
from incidents.intake.models import ChangeEvent
from incidents.models import Incident, TimelineEvent
from tests.incidents.senders import create_integration

PATH = "/v2/change/enqueue"


def change(key: str, **payload) -> dict:
    return {
        "routing_key": key,
        "payload": {
            "summary": "Deploy checkout v2.14.0",
            "timestamp": (timezone.now() - timedelta(minutes=20)).isoformat(),
            "source": "github-actions",
            "custom_details": {"commit": "9f2c1ab", "author": "lucia"},
            **payload,
        },
        "links": [{"href": "https://github.com/acme/checkout/pull/812", "text": "PR #812"}],
    }


def post(client: Client, body) -> object:
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(PATH, data, content_type="application/json")


def test_a_change_lands_on_the_open_incidents_of_its_service(client, responder_client, service):
    _, key = create_integration("pagerduty", "CI deploys", "--service", service.name)
    incident, _ = actions.open_or_join(
        dedup_key="x", title="Checkout returns 502", severity="P1", services=[service]
    )
    other, _ = actions.open_or_join(dedup_key="y", title="Unrelated", severity="P2")
    response = post(client, change(key))
    assert response.status_code == 202
    assert response.json() == {"status": "success", "message": "Change event processed"}
    stored = ChangeEvent.objects.get()
    assert stored.service == service and stored.custom_details["commit"] == "9f2c1ab"
    event = incident.events.get(kind=TimelineEvent.Kind.CHANGE_EVENT)
    assert event.text == f"change on {service.name}: Deploy checkout v2.14.0 (github-actions)"
    assert not other.events.filter(kind=TimelineEvent.Kind.CHANGE_EVENT).exists()
    assert Incident.objects.count() == 2  # a change opens nothing

    page = responder_client.get(incident.get_absolute_url()).content.decode()
    assert "Recent changes" in page and "Deploy checkout v2.14.0" in page
    assert "https://github.com/acme/checkout/pull/812" in page and "PR #812 ↗" in page
    assert "Recent changes" not in responder_client.get(other.get_absolute_url()).content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_pagerduty_client_sends_change_events(live_server, tmp_path, service):
    """Its `submit` (pagerduty 7.2) builds a broken timestamp when given none: given one."""
    import pagerduty as pd

    from tests.incidents.tls_front import tls_front

    _, key = create_integration("pagerduty", "deploys", "--service", service.name)
    with tls_front(live_server.thread.port, tmp_path) as (base_url, trust):
        events = pd.EventsApiV2Client(key, base_url=base_url, verify=trust)
        events.submit("Feature flag new-checkout on", source="launchdarkly",
                      custom_details={"flag": "new-checkout"},
                      timestamp=timezone.now().isoformat())  # fmt: skip
    assert ChangeEvent.objects.get().summary == "Feature flag new-checkout on"


def test_bad_change_events_are_400(client, db):
    _, key = create_integration("pagerduty", "deploys")
    for body, error in [
        (change(key, summary=""), "'payload.summary' is missing"),
        (change(key, summary="x" * 1025), "longer than 1024"),
        (change(key, timestamp="yesterday"), "timestamp"),
        (change(key, custom_details=[1]), "custom_details"),
        ({"routing_key": key}, "'payload' is missing"),
        (change("short"), "routing_key"),
    ]:
        response = post(client, body)
        assert response.status_code == 400, body
        assert any(error in e for e in response.json()["errors"]), response.json()
    assert not ChangeEvent.objects.exists()
