"""What a newcomer trips on: links that follow the port, the console's own 404 under DEBUG,
logins slowed down after repeated failures, a Markdown export that reads as typed."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client, override_settings

from incidents.reviews.export import absolute, md_escape
from tests.conftest import PASSWORD
from tests.console.test_settings import run_django


@pytest.fixture(autouse=True)
def fresh_cache():
    # Failure counts live in the shared cache; each test starts with none.
    cache.clear()
    yield
    cache.clear()


def test_base_url_follows_the_port():
    shown = run_django(
        {"DEBUG": "1", "PORT": "9137"},
        "shell",
        "-c",
        "from django.conf import settings; print(settings.CONSOLE_BASE_URL)",
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip().splitlines()[-1] == "http://127.0.0.1:9137"
    explicit = run_django(
        {"DEBUG": "1", "PORT": "9137", "CONSOLE_BASE_URL": "https://console.example.com"},
        "shell",
        "-c",
        "from django.conf import settings; print(settings.CONSOLE_BASE_URL)",
    )
    assert explicit.stdout.strip().splitlines()[-1] == "https://console.example.com"


@override_settings(DEBUG=True)
def test_unknown_address_under_debug_is_the_consoles_404(responder_client):
    response = responder_client.get("/no-such-page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "There is nothing at this address." in body
    assert "URLconf" not in body and "Using the URLconf" not in body


@override_settings(DEBUG=True)
def test_a_views_own_404_is_kept_under_debug(responder_client):
    response = responder_client.get("/incidents/999999/", HTTP_HX_REQUEST="true")
    assert response.status_code == 404
    assert "URLconf" not in response.content.decode()


def login(client: Client, username: str, password: str, address: str = "10.0.0.1"):
    return client.post(
        "/login/", {"username": username, "password": password}, REMOTE_ADDR=address
    )


def test_six_wrong_passwords_are_slowed_down(responder, lead):
    client = Client()
    for _ in range(5):
        assert login(client, responder.username, "wrong").status_code == 200
    sixth = login(client, responder.username, "wrong")
    assert sixth.status_code == 429 and 0 < int(sixth["Retry-After"]) <= 900
    assert "Too many failed logins" in sixth.content.decode()
    # The right password waits too: a guesser can't tell it worked.
    assert login(client, responder.username, PASSWORD).status_code == 429
    # Another account from another address is not affected.
    assert login(Client(), lead.username, PASSWORD, "10.0.0.2").status_code == 302


def test_many_accounts_from_one_address_are_slowed_down(responder):
    client = Client()
    for n in range(20):
        assert login(client, f"guess{n}", "wrong", "10.9.9.9").status_code == 200
    assert login(client, responder.username, PASSWORD, "10.9.9.9").status_code == 429
    assert login(Client(), responder.username, PASSWORD, "10.9.9.8").status_code == 302


def test_a_good_login_clears_the_accounts_count(responder):
    client = Client()
    for _ in range(4):
        login(client, responder.username, "wrong")
    assert login(client, responder.username, PASSWORD).status_code == 302
    for _ in range(4):
        assert login(Client(), responder.username, "wrong").status_code == 200


def test_markdown_escapes_only_what_makes_markup():
    assert md_escape("Down from 06:59 to 07:12 (EU), p95 1.2 s.") == (
        "Down from 06:59 to 07:12 (EU), p95 1.2 s."
    )
    assert md_escape("*not bold* <script> [x](y)") == "\\*not bold\\* \\<script\\> \\[x\\](y)"
    assert md_escape("1. not a list") == "1\\. not a list"
    assert md_escape("# not a heading") == "\\# not a heading"


@override_settings(CONSOLE_BASE_URL="https://console.example.com/")
def test_markdown_links_are_absolute():
    assert absolute("/incidents/3/") == "https://console.example.com/incidents/3/"
    assert absolute("https://elsewhere.example.org/x") == "https://elsewhere.example.org/x"
