"""Paging settings are parsed strictly: a malformed value stops start-up."""

from __future__ import annotations

import pytest

from tests.console.test_settings import PRODUCTION_ENV, run_django


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TWILIO_FROM_NUMBER", "0415 555 0100", "must be an E.164 number"),
        ("TWILIO_API_BASE", "api.twilio.com", "must be an http(s) URL"),
        ("NTFY_BASE_URL", "ntfy.example.com", "must be an http(s) URL"),
        ("SLACK_API_BASE", "ftp://slack.example.com", "must be an http(s) URL"),
        ("PAGING_LINK_MAX_AGE", "10", "below the minimum"),
    ],
)
def test_malformed_paging_settings_stop_start_up(tmp_path, name, value, message):
    env = {**PRODUCTION_ENV, "CONSOLE_VAR_DIR": str(tmp_path), name: value}
    result = run_django(env, "check")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr
