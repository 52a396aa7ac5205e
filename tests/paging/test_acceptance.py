"""The issue's acceptance path end to end: a real Celery worker process, the console on a live
server, and a local server speaking Twilio's protocol. A P0 pages the on-call person by SMS
(their rule: SMS at once); a forged reply is refused and changes nothing; a correctly signed
reply acknowledges as the number's verified owner, and the ladder stops."""

from __future__ import annotations

import pytest
from django.test import override_settings

from incidents import actions
from incidents.escalation.models import IncidentEscalation, NotificationDelivery
from incidents.models import Incident, TimelineEvent
from tests.conftest import client_for
from tests.paging.helpers import SMS_NUMBER, method, on_call_person, rules
from tests.paging.standins import twilio_standin
from tests.waiting import wait_for
from tests.workers import worker_processes

Kind = TimelineEvent.Kind


@pytest.mark.django_db(transaction=True)
def test_p0_reaches_the_on_call_by_sms_and_a_signed_reply_acknowledges(live_server):
    olga = on_call_person()
    rules(olga, "high", (method(olga, "sms", SMS_NUMBER), 0))
    with twilio_standin(live_server.url) as twilio:
        env = {
            "TWILIO_ACCOUNT_SID": twilio.account_sid,
            "TWILIO_AUTH_TOKEN": twilio.auth_token,
            "TWILIO_FROM_NUMBER": twilio.from_number,
            "TWILIO_API_BASE": twilio.url,
            "CONSOLE_BASE_URL": live_server.url,
        }
        with (
            override_settings(**{k: v for k, v in env.items()}),
            worker_processes("paging-acceptance@localhost", env=env),
        ):
            incident = actions.declare_incident(
                title="Checkout returns 502", severity="P0", declared_by=olga
            )
            assert wait_for(lambda: twilio.messages, 15), "no SMS reached the stand-in in 15 s"
            (sms,) = twilio.messages
            assert sms["to"] == SMS_NUMBER and sms["from"] == twilio.from_number
            assert incident.reference in sms["body"] and "Checkout returns 502" in sms["body"]
            assert f"ACK {incident.pk}" in sms["body"]

            # Twilio's signed status callbacks land on the delivery and the timeline.
            delivery = NotificationDelivery.objects.get(incident=incident, channel="sms")
            assert wait_for(
                lambda: (
                    NotificationDelivery.objects.get(pk=delivery.pk).provider_status == "delivered"
                ),
                15,
            )
            delivery.refresh_from_db()
            assert delivery.state == "sent" and delivery.provider_ref == sms["sid"]
            assert [c["status"] for c in delivery.callbacks] == ["sent", "delivered"]
            assert incident.events.filter(
                kind=Kind.NOTIFICATION_STATUS, data__status="delivered"
            ).exists()

            # A forged signature: 403, and nothing changes.
            events = incident.events.count()
            forged = twilio.inbound_sms(SMS_NUMBER, "1", forge=True)
            assert forged.status_code == 403
            assert Incident.objects.get(pk=incident.pk).acknowledged_at is None
            assert incident.events.count() == events

            # The genuine reply acknowledges as the number's verified owner.
            reply = twilio.inbound_sms(SMS_NUMBER, "1")
            assert reply.status_code == 200
            assert reply.headers["Content-Type"].startswith("text/xml")
            assert f"{incident.reference} acknowledged by olga" in reply.text
            incident.refresh_from_db()
            assert incident.acknowledged_by == olga
            ack = incident.events.get(kind=Kind.ACKNOWLEDGED)
            assert ack.actor == olga and ack.data["via"] == "sms"
            escalation = IncidentEscalation.objects.get(incident=incident)
            assert escalation.stopped_at is not None and escalation.stop_reason == "acknowledged"

            # The incident page: the send and its callbacks on the panel, the reply on the
            # timeline saying by whom and how.
            page = client_for(olga).get(f"/incidents/{incident.pk}/").content.decode()
            assert f"olga · {SMS_NUMBER}" in page and "· delivered" in page
            assert "acknowledged through sms" in page
