"""SMS and voice over Twilio's protocol, against the stand-in and the console on a live
server: sends, status callbacks, a failed step bringing the next one forward, voice TwiML and
its <Gather>, inbound replies (forged, unknown numbers, STOP), rules across the ack."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from incidents import actions
from incidents.escalation import engine, notify
from incidents.escalation.channels import VOICE_SALT, sign, twilio
from incidents.escalation.models import (
    EscalationPage,
    IncidentEscalation,
    NotificationDelivery,
)
from incidents.escalation.tasks import requeue_deliveries
from incidents.models import Incident, TimelineEvent
from incidents.permissions import LEAD
from tests.paging.helpers import SMS_NUMBER, VOICE_NUMBER, method, on_call_person, rules
from tests.paging.standins import twilio_signature
from tests.waiting import wait_for

Kind = TimelineEvent.Kind
State = NotificationDelivery.State


def test_signature_matches_twilios_documented_example():
    # The example of Twilio's security documentation (auth token 12345).
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("To", "+18005551212"),
    ]
    assert twilio.compute_signature("12345", url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert twilio_signature("12345", url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def deliver_due(incident: Incident) -> None:
    """What the worker does, in this process (the worker itself is in test_acceptance)."""
    for _ in range(10):
        pending = list(
            NotificationDelivery.objects.filter(incident=incident, state=State.PENDING)
            .exclude(due_at__gt=timezone.now())
            .values_list("pk", flat=True)
        )
        if not pending:
            return
        for pk in pending:
            notify.attempt(pk)


def declare(person, severity: str = "P0") -> Incident:
    """Declare and page the first level (the worker's escalate_level, in this process)."""
    incident = actions.declare_incident(
        title="Checkout returns 502", severity=severity, declared_by=person
    )
    engine.page_due(incident.pk, IncidentEscalation.objects.get(incident=incident).token)
    return incident


@pytest.mark.django_db(transaction=True)
def test_undelivered_sms_brings_the_voice_step_forward_and_pressing_1_acknowledges(
    twilio_console,
):
    olga = on_call_person()
    sms = method(olga, "sms", SMS_NUMBER)
    voice = method(olga, "voice", VOICE_NUMBER)
    rules(olga, "high", (sms, 0), (voice, 5))
    twilio_console.undeliverable.add(SMS_NUMBER)
    incident = declare(olga)
    steps = NotificationDelivery.objects.filter(incident=incident, user=olga).order_by("step")
    assert [(d.channel, d.target_key, d.due_at is None) for d in steps] == [
        ("sms", f"user:{olga.pk}:step:0", True),
        ("voice", f"user:{olga.pk}:step:1", False),
    ]
    deliver_due(incident)
    assert wait_for(lambda: steps.get(step=0).state == State.FAILED, 10)
    text = steps.get(step=0)
    assert text.provider_status == "undelivered" and "30003" in text.error
    # The failure brought the call forward: due now, not in five minutes.
    call_step = steps.get(step=1)
    assert call_step.due_at <= timezone.now()
    status_event = incident.events.get(kind=Kind.NOTIFICATION_STATUS, data__status="undelivered")
    assert status_event.data["next_step"] == call_step.pk
    # Twilio retrying the same callback changes nothing.
    callback = next(
        c for c in twilio_console.callbacks if ("MessageStatus", "undelivered") in c["params"]
    )
    assert twilio_console.signed_post(callback["url"], callback["params"]).status_code == 204
    assert incident.events.filter(kind=Kind.NOTIFICATION_STATUS).count() == 1

    deliver_due(incident)
    assert wait_for(lambda: twilio_console.calls and twilio_console.calls[0]["twiml"], 10)
    (call,) = twilio_console.calls
    assert call["to"] == VOICE_NUMBER and call["form"]["Method"] == ["POST"]
    assert call["form"]["StatusCallbackEvent"] == ["answered", "completed"]
    assert call["twiml_status"] == 200
    assert "<Gather" in call["twiml"] and "Checkout returns 502" in call["twiml"]
    assert "Press 1 to acknowledge" in call["twiml"]

    # A forged press: 403, nothing changes.
    assert twilio_console.press(call, "1", forge=True).status_code == 403
    assert Incident.objects.get(pk=incident.pk).acknowledged_at is None

    answer = twilio_console.press(call, "1")
    assert answer.status_code == 200 and "acknowledged by olga" in answer.text
    assert "<Hangup/>" in answer.text
    incident.refresh_from_db()
    assert incident.acknowledged_by == olga
    assert incident.events.get(kind=Kind.ACKNOWLEDGED).data["via"] == "voice"


@pytest.mark.django_db(transaction=True)
def test_pressing_2_escalates_now_as_a_lead_and_is_refused_to_a_responder(twilio_console):
    olga = on_call_person()
    rules(olga, "high", (method(olga, "voice", VOICE_NUMBER), 0))
    incident = declare(olga)
    deliver_due(incident)
    assert wait_for(lambda: twilio_console.calls and twilio_console.calls[0]["twiml"], 10)
    (call,) = twilio_console.calls
    refused = twilio_console.press(call, "2")
    assert "You may not escalate" in refused.text
    assert EscalationPage.objects.filter(incident=incident).count() == 1
    assert incident.events.filter(kind=Kind.PAGE_REPLY, actor=olga).exists()

    from django.contrib.auth.models import Group

    olga.groups.add(Group.objects.get(name=LEAD))
    escalated = twilio_console.press(call, "2")
    assert "level 2 paged" in escalated.text
    assert EscalationPage.objects.filter(incident=incident, level=2, paged_by=olga).exists()

    other = twilio_console.press(call, "7")
    assert "not an option" in other.text and "<Redirect" in other.text


@pytest.mark.django_db(transaction=True)
def test_replies_from_unknown_numbers_stop_and_ack_of_a_named_incident(twilio_console):
    olga = on_call_person()
    rules(olga, "high", (method(olga, "sms", SMS_NUMBER), 0))
    first, second = declare(olga), declare(olga, "P1")
    deliver_due(first)
    deliver_due(second)
    assert wait_for(lambda: len(twilio_console.messages) == 2, 10)

    stranger = twilio_console.inbound_sms("+14155559999", f"ack {first.pk}")
    assert stranger.status_code == 200 and "not a verified contact" in stranger.text
    assert Incident.objects.filter(acknowledged_at__isnull=False).count() == 0

    gibberish = twilio_console.inbound_sms(SMS_NUMBER, "on my way")
    assert "Reply 1" in gibberish.text

    named = twilio_console.inbound_sms(SMS_NUMBER, f"ACK {first.pk}")
    assert f"{first.reference} acknowledged" in named.text
    assert Incident.objects.get(pk=first.pk).acknowledged_by == olga
    assert Incident.objects.get(pk=second.pk).acknowledged_at is None
    again = twilio_console.inbound_sms(SMS_NUMBER, f"ack {first.pk}")
    assert "Already acknowledged" in again.text
    assert first.events.filter(kind=Kind.PAGE_REPLY).count() == 1

    assert twilio_console.inbound_sms(SMS_NUMBER, "STOP").status_code == 200
    contact = olga.contact_methods.get(kind="sms")
    assert contact.opted_out_at is not None and not contact.pageable
    third = declare(olga, "P1")
    (step,) = NotificationDelivery.objects.filter(incident=third, user=olga)
    assert step.state == State.SKIPPED and "STOP" in step.error
    twilio_console.inbound_sms(SMS_NUMBER, "START")
    contact.refresh_from_db()
    assert contact.opted_out_at is None


@pytest.mark.django_db(transaction=True)
def test_later_steps_stop_at_the_acknowledgement(twilio_console):
    olga = on_call_person()
    sms = method(olga, "sms", SMS_NUMBER)
    rules(olga, "high", (sms, 0), (method(olga, "voice", VOICE_NUMBER), 5))
    incident = declare(olga)
    deliver_due(incident)
    assert wait_for(lambda: twilio_console.messages, 10)
    twilio_console.inbound_sms(SMS_NUMBER, "1")
    call = NotificationDelivery.objects.get(incident=incident, channel="voice")
    assert call.state == State.SKIPPED and "acknowledged" in call.error
    # Even a worker redelivering it after its time doesn't call.
    NotificationDelivery.objects.filter(pk=call.pk).update(
        state=State.PENDING, due_at=timezone.now() - timedelta(minutes=1)
    )
    assert notify.attempt(call.pk).state == "skipped"
    assert twilio_console.calls == []


@pytest.mark.django_db(transaction=True)
def test_a_later_step_is_not_sent_early_and_the_sweep_sends_it_when_due(twilio_console):
    olga = on_call_person()
    rules(olga, "high", (method(olga, "sms", SMS_NUMBER), 1))
    incident = declare(olga)
    (step,) = NotificationDelivery.objects.filter(incident=incident, user=olga)
    assert notify.attempt(step.pk).state == "noop"  # an early redelivery
    assert twilio_console.messages == []
    NotificationDelivery.objects.filter(pk=step.pk).update(
        due_at=timezone.now() - timedelta(minutes=3)
    )
    assert requeue_deliveries() >= 1


@pytest.mark.django_db
def test_hooks_refuse_forgeries_wrong_methods_and_expired_links(settings):
    settings.TWILIO_AUTH_TOKEN = "tok"
    settings.CONSOLE_BASE_URL = "http://testserver"
    client = Client()
    for url in ["/hooks/twilio/sms/", "/hooks/twilio/status/"]:
        assert client.get(url).status_code == 405
        response = client.post(url, {"From": SMS_NUMBER, "Body": "1"})
        assert response.status_code == 403
        assert "X-Twilio-Signature" in response.json()["error"]
    # A correctly signed request for a forged voice link is still refused.
    url = "http://testserver/hooks/twilio/voice/forged-token/"
    signature = twilio_signature("tok", url, [("CallSid", "CA1")])
    response = client.post(url, {"CallSid": "CA1"}, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 403
    # A status callback missing its fields is a 400 with the reason.
    url = "http://testserver/hooks/twilio/status/"
    signature = twilio_signature("tok", url, [("AccountSid", "AC1")])
    response = client.post(url, {"AccountSid": "AC1"}, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 400


@pytest.mark.django_db
def test_a_voice_link_expires(settings):
    settings.PAGING_LINK_MAX_AGE = 60
    token = sign(VOICE_SALT, {"d": 1})
    from incidents.escalation.channels import unsign

    assert unsign(VOICE_SALT, token) == {"d": 1}
    import time_machine

    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        assert unsign(VOICE_SALT, token) is None


@pytest.mark.django_db(transaction=True)
def test_a_voice_number_is_verified_by_a_call_that_reads_the_code(twilio_console, responder):
    from tests.conftest import HTMX, client_for

    client = client_for(responder)
    added = client.post(
        "/incidents/profile/contacts/", {"kind": "voice", "address": VOICE_NUMBER}, **HTMX
    )
    assert added.status_code == 200
    assert wait_for(lambda: twilio_console.calls and twilio_console.calls[0]["twiml"], 10)
    (call,) = twilio_console.calls
    assert call["twiml_status"] == 200 and "<Say>" in call["twiml"]
    spoken = call["twiml"].split("code is ")[1].split(".")[0]
    code = spoken.replace(" ", "")
    contact = responder.contact_methods.get(kind="voice")
    verified = client.post(
        f"/incidents/profile/contacts/{contact.pk}/verify/", {"code": code}, **HTMX
    )
    assert verified.status_code == 200
    contact.refresh_from_db()
    assert contact.verified
