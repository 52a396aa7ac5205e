"""Two worker processes race over one person's rule steps: every level task, every delivery
task and the sweep, several times each. The Twilio stand-in gets one text and one call."""

from __future__ import annotations

import pytest
from django.test import override_settings

from incidents import actions
from incidents.escalation.models import EscalationPage, IncidentEscalation, NotificationDelivery
from incidents.escalation.tasks import deliver_notification, escalate_level, sweep_escalations
from tests.paging.helpers import SMS_NUMBER, VOICE_NUMBER, method, on_call_person, rules
from tests.paging.standins import twilio_standin
from tests.waiting import wait_for
from tests.workers import worker_processes

FINAL = ["sent", "failed", "skipped"]


@pytest.mark.django_db(transaction=True)
def test_two_workers_send_each_rule_step_once(live_server):
    olga = on_call_person()
    rules(
        olga, "high", (method(olga, "sms", SMS_NUMBER), 0), (method(olga, "voice", VOICE_NUMBER), 0)
    )
    with twilio_standin(live_server.url) as twilio:
        env = {
            "TWILIO_ACCOUNT_SID": twilio.account_sid,
            "TWILIO_AUTH_TOKEN": twilio.auth_token,
            "TWILIO_FROM_NUMBER": twilio.from_number,
            "TWILIO_API_BASE": twilio.url,
            "CONSOLE_BASE_URL": live_server.url,
        }
        with override_settings(**env), worker_processes("race-a@test", "race-b@test", env=env):
            incident = actions.declare_incident(
                title="Checkout returns 502", severity="P1", declared_by=olga
            )
            token = IncidentEscalation.objects.get(incident=incident).token
            for _ in range(5):
                escalate_level.apply_async(args=[incident.pk, 1, token])
            assert wait_for(
                lambda: (
                    NotificationDelivery.objects.filter(incident=incident, user=olga).count() == 2
                ),
                15,
            )
            for _ in range(3):
                sweep_escalations.apply_async()
            for pk in NotificationDelivery.objects.values_list("pk", flat=True):
                for _ in range(5):
                    deliver_notification.apply_async(args=[pk])

            def settled() -> bool:
                steps = NotificationDelivery.objects.filter(incident=incident)
                return not steps.exclude(state__in=FINAL).exists() and all(
                    c["twiml"] for c in twilio.calls
                )

            assert wait_for(settled, 30)
            assert wait_for(lambda: len(twilio.callbacks) >= 4, 10)  # sent, delivered, 2 call
            assert [m["to"] for m in twilio.messages] == [SMS_NUMBER]
            assert [c["to"] for c in twilio.calls] == [VOICE_NUMBER]
            assert EscalationPage.objects.filter(incident=incident).count() == 1
            steps = NotificationDelivery.objects.filter(incident=incident, user=olga).order_by(
                "step"
            )
            assert [(d.channel, d.state, d.attempts) for d in steps] == [
                ("sms", "sent", 1),
                ("voice", "sent", 1),
            ]
