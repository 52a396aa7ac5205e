"""Voice pages over Twilio's Calls endpoint. Twilio fetches the TwiML from a signed URL of the
console (`hooks.voice_twiml`): it reads the incident and <Gather>s one digit, 1 acknowledges,
2 escalates now."""

from __future__ import annotations

from django.urls import reverse

from incidents.escalation.channels import VOICE_SALT, public_url, sign, twilio
from incidents.escalation.channels.sms import remember, status_callback_url


def twiml_url(delivery) -> str:
    token = sign(VOICE_SALT, {"d": delivery.pk})
    return public_url(reverse("twilio_voice", args=[token]))


def send(delivery) -> int:
    code, body = twilio.start_call(delivery.target, twiml_url(delivery), status_callback_url())
    remember(delivery, body)
    return code


def spoken(incident) -> str:
    """What the call says: digits one by one so the reference is understood."""
    number = " ".join(str(incident.pk))
    return (
        f"This is the incident console. {incident.get_severity_display()} incident "
        f"number {number}: {incident.title}. Status {incident.get_status_display()}."
    )
