"""The "worker down" banner on the incident pages, in Chromium: shown while the worker and beat
have no fresh heartbeat, gone by itself once they report in again."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from console import heartbeats
from tests.browser.conftest import log_in, watch_errors
from tests.conftest import PASSWORD

SHOTS = Path("/tmp/shots-17")


def test_banner_shows_while_worker_and_beat_are_down_and_leaves_when_they_are_back(
    browser, live_server, responder, incident
):
    SHOTS.mkdir(parents=True, exist_ok=True)
    base = live_server.url
    errors: list[str] = []
    for width, height in ((1440, 900), (390, 844)):
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        watch_errors(page, errors)
        log_in(page, base, responder.username, PASSWORD)
        banner = page.locator("#services-banner")
        expect(banner.locator("[data-component=worker]")).to_contain_text(
            "Celery worker is down: it has never reported in"
        )
        page.goto(f"{base}/incidents/{incident.pk}/")
        expect(banner.locator("[data-component=beat]")).to_contain_text(
            "Scheduler (Celery beat) is down"
        )
        expect(banner).to_contain_text("Everything you type is saved.")
        page.screenshot(path=str(SHOTS / f"banner-down-{width}.png"), full_page=False)
        context.close()

    # Both report in: the open page's next check (every 15 s) takes the banner away.
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    watch_errors(page, errors)
    log_in(page, base, responder.username, PASSWORD)
    page.goto(f"{base}/incidents/{incident.pk}/")
    banner = page.locator("#services-banner")
    expect(banner.locator(".svc-banner")).to_have_count(2)
    heartbeats.beat_once("worker")
    heartbeats.beat_once("beat")
    expect(banner.locator(".svc-banner")).to_have_count(0, timeout=20_000)
    expect(banner).not_to_be_visible()
    page.screenshot(path=str(SHOTS / "banner-gone-1440.png"), full_page=False)
    context.close()
    assert errors == []
