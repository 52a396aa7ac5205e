from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from console.env import (
    env_bool,
    env_int,
    env_list,
    env_origins,
    env_timezone,
    parse_database_url,
    redact_url,
    validate_redis_url,
)
from tests.console.livecontrol import SCRUBBED

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "p" * 20 + "r0duct10n-s3cret-" + "x" * 30,
    "ALLOWED_HOSTS": "console.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://console.example.com",
    "DATABASE_URL": "postgres://console:pw@db.internal:5432/console",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "SECURE_PROXY_SSL_HEADER": "1",
}


def run_django(env_overrides: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env.update(env_overrides)
    env["DJANGO_SETTINGS_MODULE"] = "console.settings"
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_deploy_is_clean_with_production_environment(tmp_path):
    result = run_django(
        {**PRODUCTION_ENV, "CONSOLE_VAR_DIR": str(tmp_path)},
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DEBUG", "perhaps", "is not a boolean"),
        ("SECRET_KEY", "", "SECRET_KEY is required"),
        ("DATABASE_URL", "mysql://db/console", "not supported"),
        ("REDIS_URL", "http://cache:6379", "must look like redis://"),
        ("TIME_ZONE", "Mars/Olympus_Mons", "not a known time zone"),
        ("EMAIL_PORT", "smtp", "is not an integer"),
        ("CSRF_TRUSTED_ORIGINS", "console.example.com", "must be an origin"),
        ("ALLOWED_HOSTS", "a,,b", "empty item"),
        ("CONN_MAX_AGE", "-1", "below the minimum"),
    ],
)
def test_malformed_settings_stop_start_up(tmp_path, name, value, message):
    env = {**PRODUCTION_ENV, "CONSOLE_VAR_DIR": str(tmp_path), name: value}
    result = run_django(env, "check")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_env_helpers_parse_strictly():
    assert env_bool("X", False, {"X": "yes"}) is True
    assert env_bool("X", True, {"X": "0"}) is False
    assert env_bool("X", True, {}) is True
    assert env_int("X", 3, {"X": " 42 "}) == 42
    assert env_list("X", ["a"], {}) == ["a"]
    assert env_list("X", [], {"X": "a.example, b.example"}) == ["a.example", "b.example"]
    assert env_timezone("X", "UTC", {"X": "Europe/Paris"}) == "Europe/Paris"
    assert env_origins("X", {"X": "https://a.example,http://b:8000"}) == [
        "https://a.example",
        "http://b:8000",
    ]
    with pytest.raises(ImproperlyConfigured):
        env_int("X", 1, {"X": "1.5"})
    with pytest.raises(ImproperlyConfigured):
        validate_redis_url("redis://cache:port/0")


def test_database_urls(tmp_path):
    pg = parse_database_url("postgresql://u:p%40ss@h:5433/name?sslmode=require", tmp_path)
    assert pg["ENGINE"] == "django.db.backends.postgresql"
    assert (pg["NAME"], pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"]) == (
        "name",
        "u",
        "p@ss",
        "h",
        "5433",
    )
    assert pg["OPTIONS"] == {"sslmode": "require"}
    lite = parse_database_url("sqlite:///var/x.sqlite3", tmp_path)
    assert lite["NAME"] == tmp_path / "var/x.sqlite3"
    assert lite["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in lite["OPTIONS"]["init_command"]
    assert parse_database_url("sqlite:////abs/x.db", tmp_path)["NAME"] == Path("/abs/x.db")
    with pytest.raises(ImproperlyConfigured):
        parse_database_url("postgres://h:5432/", tmp_path)
    assert redact_url("postgres://u:secret@h/db") == "postgres://u:•••@h/db"


def test_debug_off_means_secure_cookies_and_hsts():
    assert settings.DEBUG is False
    assert settings.SESSION_COOKIE_SECURE and settings.CSRF_COOKIE_SECURE
    assert settings.SECURE_HSTS_SECONDS >= 31_536_000


def test_pages_carry_a_csp_that_htmx_works_under(responder_client, incident):
    response = responder_client.get(incident.get_absolute_url())
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    html = response.content.decode()
    # Nothing inline that the policy would block: every script has a src, no handlers/styles.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"\son[a-z]+=", html)
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"hx-on", html)
    assert '"includeIndicatorStyles": false' in html
    assert '"allowEval": false' in html
