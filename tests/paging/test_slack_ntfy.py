"""Slack buttons (interactions signed as Slack signs them, v0 with a five-minute tolerance,
acting as the console user linked to the Slack member id) and ntfy push (publish protocol,
priority by severity, a signed single-use Acknowledge action)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client, override_settings

from incidents import actions
from incidents.escalation import engine, notify
from incidents.escalation.models import (
    EscalationPage,
    IncidentEscalation,
    NotificationDelivery,
    NotificationProfile,
)
from incidents.models import Incident, TimelineEvent
from incidents.permissions import LEAD
from tests.paging.helpers import method, on_call_person, rules
from tests.paging.standins import ntfy_standin, slack_standin

Kind = TimelineEvent.Kind
MEMBER = "U0OLGA0001"


def declare(person, severity: str = "P0") -> Incident:
    incident = actions.declare_incident(
        title="Checkout returns 502", severity=severity, declared_by=person
    )
    engine.page_due(incident.pk, IncidentEscalation.objects.get(incident=incident).token)
    return incident


@pytest.fixture
def slack():
    with (
        slack_standin() as standin,
        override_settings(
            SLACK_SIGNING_SECRET=standin.signing_secret,
            SLACK_BOT_TOKEN=standin.bot_token,
            SLACK_API_BASE=standin.url + "/api",
        ),
    ):
        yield standin


def press(slack, member: str, action: str, incident: Incident, **kwargs):
    body, headers = slack.interaction(member, action, str(incident.pk), **kwargs)
    return Client().post(
        "/hooks/slack/interactions/",
        body,
        content_type="application/x-www-form-urlencoded",
        **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()},
    )


@pytest.mark.django_db
def test_a_signed_slack_press_acknowledges_and_updates_the_message(slack):
    olga = on_call_person()
    rules(olga, "high", (method(olga, "slack", MEMBER), 0))
    incident = declare(olga)
    (step,) = NotificationDelivery.objects.filter(incident=incident, user=olga)
    assert notify.attempt(step.pk).state == "sent"
    (dm,) = slack.posted
    assert dm["channel"] == MEMBER
    buttons = dm["blocks"][-1]["elements"]
    assert [b["action_id"] for b in buttons] == ["acknowledge", "escalate"]
    step.refresh_from_db()
    assert step.provider_ref == dm["ts"]

    stale = press(slack, MEMBER, "acknowledge", incident, age=301)
    assert stale.status_code == 403 and "five minutes" in stale.json()["error"]
    forged = press(slack, MEMBER, "acknowledge", incident, secret="not-the-secret")
    assert forged.status_code == 403
    assert Incident.objects.get(pk=incident.pk).acknowledged_at is None
    assert slack.updates == []

    pressed = press(slack, MEMBER, "acknowledge", incident)
    assert pressed.status_code == 200
    incident.refresh_from_db()
    assert incident.acknowledged_by == olga
    assert incident.events.get(kind=Kind.ACKNOWLEDGED).data["via"] == "slack"
    (update,) = slack.updates
    assert update["replace_original"] is True
    assert "Acknowledged by olga" in update["blocks"][0]["text"]["text"]
    assert all(block["type"] != "actions" for block in update["blocks"])


@pytest.mark.django_db
def test_slack_escalate_needs_the_permission_and_unknown_members_change_nothing(slack):
    olga = on_call_person()
    NotificationProfile.objects.create(user=olga, slack_member_id=MEMBER)
    incident = declare(olga)
    assert press(slack, "U0STRANGER1", "acknowledge", incident).status_code == 200
    assert "not linked" in slack.updates[-1]["text"]
    assert Incident.objects.get(pk=incident.pk).acknowledged_at is None

    press(slack, MEMBER, "escalate", incident)
    assert "You may not escalate" in slack.updates[-1]["text"]
    assert EscalationPage.objects.filter(incident=incident).count() == 1
    olga.groups.add(Group.objects.get(name=LEAD))
    press(slack, MEMBER, "escalate", incident)
    assert EscalationPage.objects.filter(incident=incident, level=2, paged_by=olga).exists()
    # Still unacknowledged: the updated message keeps its buttons.
    assert slack.updates[-1]["blocks"][-1]["type"] == "actions"


@pytest.mark.django_db
def test_slack_hook_refuses_bad_requests(settings):
    settings.SLACK_SIGNING_SECRET = ""
    client = Client()
    assert client.get("/hooks/slack/interactions/").status_code == 405
    response = client.post("/hooks/slack/interactions/", {"payload": "{}"})
    assert response.status_code == 403 and "SLACK_SIGNING_SECRET" in response.json()["error"]


@pytest.mark.django_db
def test_ntfy_push_carries_priority_link_and_a_single_use_acknowledge(live_server):
    olga = on_call_person()
    rules(olga, "high", (method(olga, "push", "oncall-olga"), 0))
    with (
        ntfy_standin(token="tk_standin") as ntfy,
        override_settings(
            NTFY_BASE_URL=ntfy.url, NTFY_TOKEN="tk_standin", CONSOLE_BASE_URL=live_server.url
        ),
    ):
        incident = declare(olga)
        (step,) = NotificationDelivery.objects.filter(incident=incident, user=olga)
        assert notify.attempt(step.pk).state == "sent"
        (message,) = ntfy.published
        assert message["topic"] == "oncall-olga" and message["priority"] == 5
        assert message["click"].endswith(f"/incidents/{incident.pk}/")
        assert incident.reference in message["title"]
        step.refresh_from_db()
        assert step.provider_ref == message["id"]

        ack = next(a for a in message["actions"] if a["label"] == "Acknowledge")
        forged = Client().post(ack["url"].replace(live_server.url, "")[:-3] + "xx/")
        assert forged.status_code == 403
        assert Incident.objects.get(pk=incident.pk).acknowledged_at is None

        first = ntfy.press(message)
        assert first.status_code == 200 and "acknowledged by olga" in first.json()["message"]
        again = ntfy.press(message)
        assert again.status_code == 410
        incident.refresh_from_db()
        assert incident.acknowledged_by == olga
        assert incident.events.get(kind=Kind.ACKNOWLEDGED).data["via"] == "push"
        assert Client().get(ack["url"].replace(live_server.url, "")).status_code == 405


@pytest.mark.django_db
def test_ntfy_refusal_fails_the_step_and_brings_the_next_forward(settings):
    olga = on_call_person()
    rules(
        olga, "low", (method(olga, "push", "oncall-olga"), 0), (method(olga, "email", "o@x.io"), 10)
    )
    with ntfy_standin(token="tk_right") as ntfy:
        settings.NTFY_BASE_URL, settings.NTFY_TOKEN = ntfy.url, "tk_wrong"
        incident = declare(olga, "P3")
        push, email = NotificationDelivery.objects.filter(incident=incident).order_by("step")
        assert notify.attempt(push.pk).state == "failed"
        push.refresh_from_db()
        assert push.response_code == 401
        email.refresh_from_db()
        failed = incident.events.get(kind=Kind.NOTIFICATION_FAILED)
        assert failed.data["next_step"] == email.pk
        assert notify.attempt(email.pk).state == "sent"
