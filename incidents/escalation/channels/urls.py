"""Provider callbacks, mounted under /hooks/ before the alert intake's /hooks/<kind>/<token>/."""

from __future__ import annotations

from django.urls import path

from incidents.escalation.channels import hooks

urlpatterns = [
    path("twilio/status/", hooks.twilio_status, name="twilio_status"),
    path("twilio/sms/", hooks.twilio_sms, name="twilio_sms"),
    path("twilio/voice/<str:token>/", hooks.twilio_voice, name="twilio_voice"),
    path("twilio/voice/<str:token>/gather/", hooks.twilio_voice_gather, name="twilio_gather"),
    path("twilio/say/<str:token>/", hooks.twilio_say, name="twilio_say"),
    path("ntfy/ack/<str:token>/", hooks.ntfy_ack, name="ntfy_ack"),
    path("slack/interactions/", hooks.slack_interactions, name="slack_interactions"),
]
