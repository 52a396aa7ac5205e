"""Notifications: email through Django's locmem outbox, Slack's Block Kit and the signed
webhook received by a real HTTP server on 127.0.0.1, bounded retries, skipped channels."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest
import time_machine
from django.core import mail
from django.test import override_settings
from django.utils.html import escape

from incidents import actions
from incidents.escalation import notify
from incidents.escalation.models import EscalationPolicy, NotificationDelivery
from incidents.escalation.tasks import deliver_notification, sweep_escalations
from incidents.models import TimelineEvent
from tests.conftest import HTMX, client_for
from tests.incidents.escalation_helpers import json_bodies, receiving_server, staff_the_ladder

Kind = TimelineEvent.Kind
State = NotificationDelivery.State
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SECRET = "shared-secret-for-tests"
LOCMEM = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def people(groups):
    return staff_the_ladder()


def all_channels_on_level_one() -> None:
    level = EscalationPolicy.objects.get(severity="P0").levels.get(position=1)
    level.channels = ["email", "slack", "webhook"]
    level.save()


def page_level_one(responder):
    with time_machine.travel(T0, tick=False):
        incident = actions.declare_incident(
            title="Checkout returns 502", severity="P0", declared_by=responder
        )
        sweep_escalations()
    return incident


def deliver_all(incident) -> None:
    for pk in NotificationDelivery.objects.filter(
        incident=incident, state=State.PENDING
    ).values_list("pk", flat=True):
        deliver_notification.apply(args=[pk])


def test_email_slack_and_webhook_are_delivered_and_recorded(people, responder):
    all_channels_on_level_one()
    with (
        receiving_server() as slack,
        receiving_server() as hook,
        override_settings(
            EMAIL_BACKEND=LOCMEM,
            SLACK_WEBHOOK_URL=slack.url,
            ESCALATION_WEBHOOK_URL=hook.url,
            ESCALATION_WEBHOOK_SECRET=SECRET,
        ),
    ):
        incident = page_level_one(responder)
        deliveries = NotificationDelivery.objects.filter(incident=incident)
        assert sorted(deliveries.values_list("channel", "target")) == [
            ("email", "oncall-olga@example.com"),
            ("slack", "Slack channel"),
            ("webhook", "webhook"),
        ]
        deliver_all(incident)

        # Email: one message to the on-call engineer, with the link to acknowledge.
        assert len(mail.outbox) == 1
        message = mail.outbox[0]
        assert message.to == ["oncall-olga@example.com"]
        assert message.subject.startswith(f"[P0] {incident.reference} Checkout returns 502")
        assert f"/incidents/{incident.pk}/" in message.body

        # Slack: Block Kit with a header, a section (severity, title, link, mention), context,
        # and the Acknowledge / Escalate buttons.
        (payload,) = json_bodies(slack)
        types = [block["type"] for block in payload["blocks"]]
        assert types == ["header", "section", "context", "actions"]
        buttons = payload["blocks"][3]["elements"]
        assert [(b["action_id"], b["value"]) for b in buttons] == [
            ("acknowledge", str(incident.pk)),
            ("escalate", str(incident.pk)),
        ]
        section = payload["blocks"][1]
        assert "<@U0ONCALL01>" in section["text"]["text"]
        assert f"/incidents/{incident.pk}/|Checkout returns 502>" in section["text"]["text"]
        assert any("P0 · Critical" in field["text"] for field in section["fields"])
        assert payload["blocks"][0]["text"]["type"] == "plain_text"

        # Webhook: the receiver verifies the signature over "<timestamp>.<body>".
        (request,) = hook.received
        headers = {k.lower(): v for k, v in request["headers"].items()}
        timestamp = headers["x-console-timestamp"]
        expected = hmac.new(
            SECRET.encode(), f"{timestamp}.".encode() + request["body"], hashlib.sha256
        ).hexdigest()
        assert hmac.compare_digest(headers["x-console-signature"], f"sha256={expected}")
        body = json.loads(request["body"])
        assert body["event"] == "escalation.paged"
        assert body["incident"]["reference"] == incident.reference
        assert body["level"] == {"position": 1, "name": "On-call engineer"}
        assert body["recipients"] == ["oncall-olga"]

    assert set(deliveries.values_list("state", flat=True)) == {State.SENT}
    assert deliveries.get(channel="webhook").response_code == 200
    sent = TimelineEvent.objects.filter(incident=incident, kind=Kind.NOTIFICATION_SENT)
    assert sorted(e.data["channel"] for e in sent) == ["email", "slack", "webhook"]
    # A second run of a finished delivery sends nothing.
    for delivery in deliveries:
        assert notify.attempt(delivery.pk).state == "noop"
    assert len(mail.outbox) == 1


def test_a_wrong_secret_does_not_verify(people, responder):
    """The signature really depends on the secret (the receiver's check is not a tautology)."""
    body, timestamp = b'{"a":1}', "1700000000"
    good = notify.signature(SECRET, timestamp, body)
    assert good != notify.signature("other", timestamp, body)
    assert good != notify.signature(SECRET, "1700000001", body)


def test_channels_without_settings_are_skipped_with_a_reason(people, responder):
    all_channels_on_level_one()
    with override_settings(
        EMAIL_BACKEND=LOCMEM,
        SLACK_WEBHOOK_URL="",
        ESCALATION_WEBHOOK_URL="",
        ESCALATION_WEBHOOK_SECRET="",
    ):
        incident = page_level_one(responder)
    skipped = dict(
        NotificationDelivery.objects.filter(incident=incident, state=State.SKIPPED).values_list(
            "channel", "error"
        )
    )
    assert skipped == {
        "slack": "SLACK_WEBHOOK_URL is not set",
        "webhook": "ESCALATION_WEBHOOK_URL is not set",
    }


def test_5xx_is_retried_with_backoff_then_delivered(people, responder):
    all_channels_on_level_one()
    with (
        receiving_server(statuses=[500, 502]) as hook,
        override_settings(
            EMAIL_BACKEND=LOCMEM,
            SLACK_WEBHOOK_URL="",
            ESCALATION_WEBHOOK_URL=hook.url,
            ESCALATION_WEBHOOK_SECRET=SECRET,
            ESCALATION_RETRY_BACKOFF_SECONDS=5,
        ),
    ):
        incident = page_level_one(responder)
        delivery = NotificationDelivery.objects.get(incident=incident, channel="webhook")
        outcomes = [notify.attempt(delivery.pk) for _ in range(2)]
        assert [o.state for o in outcomes] == ["retry", "retry"]
        assert [notify.backoff_seconds(o.attempts) for o in outcomes] == [5, 10]
        delivery.refresh_from_db()
        assert (delivery.state, delivery.response_code) == (State.PENDING, 502)
        assert notify.attempt(delivery.pk).state == "sent"
        assert len(hook.received) == 3
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.response_code) == (State.SENT, 3, 200)


def test_retries_are_bounded(people, responder):
    all_channels_on_level_one()
    with (
        receiving_server(statuses=[500] * 20) as hook,
        override_settings(
            EMAIL_BACKEND=LOCMEM,
            SLACK_WEBHOOK_URL="",
            ESCALATION_WEBHOOK_URL=hook.url,
            ESCALATION_WEBHOOK_SECRET=SECRET,
            ESCALATION_DELIVERY_ATTEMPTS=3,
            ESCALATION_RETRY_BACKOFF_SECONDS=0,
        ),
    ):
        incident = page_level_one(responder)
        delivery = NotificationDelivery.objects.get(incident=incident, channel="webhook")
        # The task retries itself (eagerly here) until the attempts run out.
        deliver_notification.apply(args=[delivery.pk])
        assert len(hook.received) == 3
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.response_code) == (State.FAILED, 3, 500)
    failed = TimelineEvent.objects.get(incident=incident, kind=Kind.NOTIFICATION_FAILED)
    assert failed.data["channel"] == "webhook" and "HTTP 500" in failed.text


def test_4xx_is_not_retried(people, responder):
    all_channels_on_level_one()
    with (
        receiving_server(statuses=[400]) as slack,
        override_settings(EMAIL_BACKEND=LOCMEM, SLACK_WEBHOOK_URL=slack.url),
    ):
        incident = page_level_one(responder)
        delivery = NotificationDelivery.objects.get(incident=incident, channel="slack")
        assert notify.attempt(delivery.pk).state == "failed"
        assert len(slack.received) == 1


def test_network_error_is_retried(people, responder):
    all_channels_on_level_one()
    from tests.probes.servers import free_port

    with override_settings(
        EMAIL_BACKEND=LOCMEM, SLACK_WEBHOOK_URL=f"http://127.0.0.1:{free_port()}/nobody"
    ):
        incident = page_level_one(responder)
        delivery = NotificationDelivery.objects.get(incident=incident, channel="slack")
        assert notify.attempt(delivery.pk).state == "retry"
    delivery.refresh_from_db()
    assert delivery.state == State.PENDING and "ConnectError" in delivery.error


def test_resolving_skips_pending_deliveries(people, responder, lead):
    with override_settings(EMAIL_BACKEND=LOCMEM):
        incident = page_level_one(responder)
        actions.change_status(incident, to="resolved", by=lead)
        deliver_all(incident)
    assert mail.outbox == []
    assert set(
        NotificationDelivery.objects.filter(incident=incident).values_list("state", flat=True)
    ) == {State.SKIPPED}


def test_a_retry_refreshes_the_escalation_panel_without_a_timeline_event(
    people, responder, django_assert_num_queries
):
    """A delivery going back to pending writes no event (no timeline noise), but its
    changed_at is part of the incident page's ETag, so the next poll brings the panel."""
    all_channels_on_level_one()
    with (
        receiving_server(statuses=[503]) as hook,
        override_settings(
            EMAIL_BACKEND=LOCMEM,
            SLACK_WEBHOOK_URL="",
            ESCALATION_WEBHOOK_URL=hook.url,
            ESCALATION_WEBHOOK_SECRET=SECRET,
        ),
    ):
        incident = page_level_one(responder)
        client = client_for(responder)
        first = incident.events.order_by("id").first()
        url = f"/incidents/{incident.pk}/timeline/?since={first.pk}"
        response = client.get(url, **HTMX)
        etag = response["ETag"]
        # The page's own ETag (what the browser sends next) is the poll's.
        assert f'data-etag="{escape(etag)}"' in response.content.decode()
        # session, user, permissions (2), then one query for incident + newest event id +
        # newest delivery change: still one, with deliveries on the page.
        with django_assert_num_queries(5):
            assert client.get(url, HTTP_IF_NONE_MATCH=etag, **HTMX).status_code == 304

        events = incident.events.count()
        delivery = NotificationDelivery.objects.get(incident=incident, channel="webhook")
        assert notify.attempt(delivery.pk).state == "retry"
        assert incident.events.count() == events  # no event for a retry

        response = client.get(url, HTTP_IF_NONE_MATCH=etag, **HTMX)
        assert response.status_code == 200 and response["ETag"] != etag
        body = response.content.decode()
        assert f'data-etag="{escape(response["ETag"])}"' in body
        panel = body[body.index('id="escalation"') :]
        assert "esc-dstate-pending" in panel and "HTTP 503" in panel
        assert client.get(url, HTTP_IF_NONE_MATCH=response["ETag"], **HTMX).status_code == 304

        # The retry that succeeds writes its event, as before.
        assert notify.attempt(delivery.pk).state == "sent"
        assert len(hook.received) == 2
    assert incident.events.filter(kind=Kind.NOTIFICATION_SENT, data__channel="webhook").exists()
