"""One intent, one thing: a double click or Enter pressed twice declares one incident, adds
one note. The button is disabled while the request is in flight and the server refuses to do
a form's work twice (one-time token), answering the repeat with the first one's result."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from console.models import FormSubmission
from incidents.models import Incident, TimelineEvent
from tests.browser.conftest import log_in
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser, live_server, responder):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    log_in(page, live_server.url, responder.username, PASSWORD)
    yield page
    context.close()


def _slow_requests(page, path_part: str, ms: int = 400) -> None:
    """Hold requests to the server a moment so a second click lands while one is in flight
    (a phone on a bad network)."""

    def hold(route):
        page.wait_for_timeout(ms)
        route.continue_()

    page.route(re.compile(path_part), hold)


def test_double_click_on_declare_declares_once(page, live_server):
    page.goto(f"{live_server.url}/incidents/declare/")
    page.fill("input[name=title]", "Checkout returns 502 for EU customers")
    page.check("input[name=severity][value=P1]")
    _slow_requests(page, r"/incidents/declare/$")
    page.dblclick("#declare-form button[type=submit]")
    page.wait_for_url(re.compile(r"/incidents/\d+/$"))
    assert Incident.objects.count() == 1


def test_enter_twice_declares_once(page, live_server):
    page.goto(f"{live_server.url}/incidents/declare/")
    page.fill("input[name=title]", "Login page times out")
    _slow_requests(page, r"/incidents/declare/$")
    page.focus("input[name=title]")
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/incidents/\d+/$"))
    assert Incident.objects.count() == 1


def test_declare_form_sent_twice_without_javascript_declares_once(
    browser, live_server, responder
):
    # No JavaScript: nothing disables the button. The same form posted twice (the browser's
    # resend) carries the same token; the second answer leads to the first incident.
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        log_in(page, live_server.url, responder.username, PASSWORD)
        page.goto(f"{live_server.url}/incidents/declare/")
        token = page.input_value("input[name=form_token]")
        page.fill("input[name=title]", "Search returns nothing")
        page.click("#declare-form button[type=submit]")
        page.wait_for_url(re.compile(r"/incidents/\d+/$"))
        first = page.url
        # Replay exactly what the browser sent, as a resend would.
        csrf = next(c["value"] for c in context.cookies() if c["name"] == "csrftoken")
        replay = context.request.post(
            f"{live_server.url}/incidents/declare/",
            form={
                "csrfmiddlewaretoken": csrf,
                "form_token": token,
                "title": "Search returns nothing",
                "severity": "P2",
            },
            headers={"Referer": f"{live_server.url}/incidents/declare/"},
        )
        assert replay.ok and replay.url == first
        assert Incident.objects.count() == 1
        assert FormSubmission.objects.get(token=token).result_url.endswith(
            first.removeprefix(live_server.url)
        )
    finally:
        context.close()


def test_double_click_adds_one_note_and_the_next_note_gets_a_new_token(
    page, live_server, incident
):
    page.goto(f"{live_server.url}/incidents/{incident.pk}/")
    _slow_requests(page, r"/notes/$")
    page.fill("#note-text", "pgbouncer pool is full")
    first_token = page.input_value("#note-form input[name=form_token]")
    page.dblclick("#note-form button[type=submit]")
    expect(page.locator("#timeline-live")).to_contain_text("pgbouncer pool is full")
    expect(page.locator("#note-form button[type=submit]")).to_be_enabled()
    assert TimelineEvent.objects.filter(incident=incident, kind="note_added").count() == 1
    # The same box sends the next note: a new intent, a new token.
    assert page.input_value("#note-form input[name=form_token]") != first_token
    page.fill("#note-text", "raised the pool to 200")
    page.click("#note-form button[type=submit]")
    expect(page.locator("#timeline-live")).to_contain_text("raised the pool to 200")
    assert TimelineEvent.objects.filter(incident=incident, kind="note_added").count() == 2


def test_button_is_disabled_while_the_request_is_in_flight(page, live_server, incident):
    page.goto(f"{live_server.url}/incidents/{incident.pk}/")
    _slow_requests(page, r"/notes/$", ms=1500)
    page.fill("#note-text", "checking replication lag")
    page.click("#note-form button[type=submit]")
    expect(page.locator("#note-form button[type=submit]")).to_be_disabled()
    expect(page.locator("#timeline-live")).to_contain_text("checking replication lag")
    expect(page.locator("#note-form button[type=submit]")).to_be_enabled()
