"""Fixtures of the paging tests: the console on a live server wired to provider stand-ins."""

from __future__ import annotations

import pytest
from django.test import override_settings

from tests.paging.standins import twilio_standin


@pytest.fixture
def twilio_console(live_server):
    """The stand-in Twilio, and the console configured to use it."""
    with (
        twilio_standin(live_server.url) as standin,
        override_settings(
            TWILIO_ACCOUNT_SID=standin.account_sid,
            TWILIO_AUTH_TOKEN=standin.auth_token,
            TWILIO_FROM_NUMBER=standin.from_number,
            TWILIO_API_BASE=standin.url,
            CONSOLE_BASE_URL=live_server.url,
        ),
    ):
        yield standin
