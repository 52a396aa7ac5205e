"""Someone paged at night opens the link on a phone: every page fits 390 px with no sideways
scrolling, the nav collapses into a menu, and an unacknowledged incident's Acknowledge button
is on the first screen. Screenshots of each page at 1440×900 and 390×844 go to
$SHOTS_DIR (default var/screenshots/)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from incidents.models import Incident, Status
from tests.browser.conftest import SCREENSHOTS

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
DEMO_PASSWORD = "phone-demo-password"


@pytest.fixture
def demo(db, monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", DEMO_PASSWORD)
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115


def shots_dir() -> Path:
    path = Path(os.environ.get("SHOTS_DIR") or SCREENSHOTS)
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/incidents/")


def overflow(page) -> int:
    """How far the page scrolls sideways (0 when it fits)."""
    return page.evaluate(
        "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        " - document.documentElement.clientWidth"
    )


CULPRITS = """() => {
  const w = document.documentElement.clientWidth, out = [];
  for (const el of document.querySelectorAll("body *")) {
    const r = el.getBoundingClientRect();
    if (r.width && r.right > w + 0.5) {
      const p = el.parentElement.getBoundingClientRect();
      if (p.right <= w + 0.5) {
        out.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
                 + (typeof el.className === "string" && el.className
                    ? "." + el.className.trim().split(/\\s+/).join(".") : "")
                 + " " + Math.round(r.right - w) + "px");
      }
    }
  }
  return out.slice(0, 6);
}"""


def pages_to_check(base: str) -> list[tuple[str, str]]:
    open_incident = Incident.objects.filter(status=Status.INVESTIGATING).order_by("pk").first()
    resolved = Incident.objects.filter(status=Status.RESOLVED).order_by("pk").first()
    rows = [
        ("incident-list", "/incidents/"),
        ("declare", "/incidents/declare/"),
        ("incident", f"/incidents/{open_incident.pk}/"),
        ("runbooks", "/runbooks/"),
        ("probes", "/probes/"),
        ("oncall", "/incidents/oncall/"),
        ("escalation", "/incidents/escalation/"),
        ("comms", "/incidents/comms-templates/"),
        ("components", "/incidents/status-page/components/"),
        ("reviews", "/incidents/reviews/"),
        ("action-items", "/incidents/reviews/action-items/"),
        ("metrics", "/incidents/metrics/"),
        ("integrations", "/incidents/integrations/"),
        ("rules", "/incidents/integrations/rules/"),
        ("profile", "/incidents/profile/"),
        ("status", "/status/"),
    ]
    if resolved:
        rows.append(("resolved-incident", f"/incidents/{resolved.pk}/"))
        rows.append(("review", f"/incidents/{resolved.pk}/review/"))
    from runbooks.models import Runbook

    runbook = Runbook.objects.order_by("pk").first()
    if runbook:
        rows.append(("runbook", f"/runbooks/{runbook.slug}/"))
    return rows


def test_every_page_fits_a_phone_and_a_desktop(browser, live_server, demo):
    base = live_server.url
    wide = []
    for name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        context = browser.new_context(
            viewport=viewport, has_touch=name == "phone", is_mobile=name == "phone"
        )
        try:
            page = context.new_page()
            log_in(page, base, "manager")
            for label, path in pages_to_check(base):
                page.goto(f"{base}{path}")
                page.wait_for_load_state("networkidle")
                if overflow(page) > 0:
                    wide.append(f"{name} {path}: {overflow(page)} px, {page.evaluate(CULPRITS)}")
                suffix = "390" if name == "phone" else "1440"
                page.screenshot(path=str(shots_dir() / f"{label}-{suffix}.png"))
            page.goto(f"{base}/login/")
        finally:
            context.close()
    assert wide == [], wide


def test_phone_nav_is_a_menu_and_acknowledge_is_on_the_first_screen(
    browser, live_server, demo
):
    base = live_server.url
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    try:
        page = context.new_page()
        log_in(page, base, "responder")
        nav = page.locator("#topmenu")
        expect(nav).to_be_hidden()
        # Declaring stays one tap away; the rest is behind the menu.
        expect(page.locator(".topbar-declare")).to_be_visible()
        page.tap("button.nav-toggle")
        expect(nav).to_be_visible()
        expect(nav.get_by_role("link", name="Runbooks")).to_be_visible()
        expect(nav.get_by_role("button", name="Log out")).to_be_visible()
        assert overflow(page) == 0
        page.screenshot(path=str(shots_dir() / "menu-open-390.png"))
        page.tap("button.nav-toggle")
        expect(nav).to_be_hidden()

        unacked = Incident.objects.filter(acknowledged_at__isnull=True).exclude(
            status=Status.RESOLVED
        )
        incident = unacked.order_by("pk").first()
        page.goto(f"{base}/incidents/{incident.pk}/")
        ack = page.get_by_role("button", name="Acknowledge")
        expect(ack).to_be_visible()
        box = ack.bounding_box()
        assert box["y"] + box["height"] <= PHONE["height"], box
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
        page.screenshot(path=str(shots_dir() / "incident-unacked-390.png"))
        ack.tap()
        expect(page.locator("#incident-header")).to_contain_text("acknowledged in", timeout=6_000)
        assert overflow(page) == 0
    finally:
        context.close()
