"""Which steps a page makes for a person: their rules for the incident's urgency, or the
defaults through what they verified; unverified methods and switched-off channels."""

from __future__ import annotations

import pytest
from django.test import override_settings

from incidents import actions
from incidents.escalation import engine
from incidents.escalation.models import IncidentEscalation, NotificationDelivery
from tests.paging.helpers import SMS_NUMBER, VOICE_NUMBER, method, on_call_person, rules

TWILIO = {
    "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    "TWILIO_AUTH_TOKEN": "t",
    "TWILIO_FROM_NUMBER": "+14155550100",
}


def steps(person, severity: str) -> list[tuple]:
    incident = actions.declare_incident(title="Disk full", severity=severity, declared_by=person)
    engine.page_due(incident.pk, IncidentEscalation.objects.get(incident=incident).token)
    return [
        (
            d.channel,
            d.target,
            d.due_at and round((d.due_at - d.page.paged_at).seconds / 60),
            d.state,
        )
        for d in NotificationDelivery.objects.filter(incident=incident, user=person)
        .select_related("page")
        .order_by("step")
    ]


@pytest.mark.django_db
@override_settings(**TWILIO)
def test_defaults_use_what_the_person_verified():
    olga = on_call_person()
    method(olga, "sms", SMS_NUMBER)
    method(olga, "voice", VOICE_NUMBER)
    method(olga, "push", "oncall-olga", verified=False)
    assert steps(olga, "P0") == [
        ("email", "olga@example.com", None, "pending"),
        ("sms", SMS_NUMBER, 1, "pending"),
        ("voice", VOICE_NUMBER, 5, "pending"),
    ]
    assert steps(olga, "P3") == [("email", "olga@example.com", None, "pending")]


@pytest.mark.django_db
def test_defaults_leave_out_switched_off_channels_and_rules_say_why_a_step_is_skipped():
    olga = on_call_person()
    sms = method(olga, "sms", SMS_NUMBER)
    # Twilio is not configured: the defaults don't text; an explicit rule is kept, skipped.
    assert [s[0] for s in steps(olga, "P1")] == ["email"]
    rules(olga, "high", (sms, 0), (method(olga, "voice", VOICE_NUMBER, verified=False), 2))
    (text, call) = steps(olga, "P1")
    assert text[3] == "skipped" and call[3] == "skipped"
    skipped = NotificationDelivery.objects.filter(user=olga, state="skipped").order_by("id")
    assert "TWILIO_ACCOUNT_SID is not set" in skipped[0].error
    assert "not verified" in skipped[1].error


@pytest.mark.django_db
@override_settings(**TWILIO)
def test_rules_are_per_urgency_and_in_order_of_delay():
    olga = on_call_person()
    sms, email = method(olga, "sms", SMS_NUMBER), method(olga, "email", "o@pager.example.com")
    rules(olga, "high", (sms, 3), (email, 0))
    rules(olga, "low", (email, 10))
    assert steps(olga, "P0") == [
        ("email", "o@pager.example.com", None, "pending"),
        ("sms", SMS_NUMBER, 3, "pending"),
    ]
    assert steps(olga, "P2") == [("email", "o@pager.example.com", 10, "pending")]
