"""A lead makes an API token on the profile page, copies it from the page that shows it once,
a script uses it, and the profile lists its last use; the API docs page works under the
console's Content-Security-Policy with no CDN; the outgoing webhooks page subscribes a URL."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from incidents.api.models import ApiToken
from tests.browser.conftest import log_in, watch_errors
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser
SHOTS = Path("/tmp/shots-16")
SIZES = {"desktop": (1440, 900), "phone": (390, 844)}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("size", list(SIZES))
def test_token_made_on_the_profile_page_works_once_copied(browser, live_server, lead, size):
    SHOTS.mkdir(exist_ok=True)
    width, height = SIZES[size]
    base = live_server.url
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    errors: list[str] = []
    watch_errors(page, errors)
    requests_outside: list[str] = []
    page.on(
        "request",
        lambda r: r.url.startswith(("http://", "https://"))
        and not r.url.startswith(base)
        and requests_outside.append(r.url),
    )
    try:
        log_in(page, base, "leo", PASSWORD)
        page.goto(f"{base}/incidents/profile/")
        page.fill("#api-token-form input[name=name]", "")
        page.click("#api-token-form button[type=submit]")
        expect(page.locator(".field-error")).to_contain_text("Name the token after what")
        page.fill("#api-token-form input[name=name]", "deploy script")
        page.check("#api-token-form input[value=read_only]")
        page.select_option("#api-token-form select[name=expires]", "30")
        page.click("#api-token-form button[type=submit]")
        secret = page.locator("#api-token-secret").inner_text().strip()
        assert secret.startswith("ic_")
        page.screenshot(path=str(SHOTS / f"token-once-{size}.png"), full_page=True)

        answer = httpx.get(
            f"{base}/api/v1/incidents", headers={"Authorization": f"Bearer {secret}"}
        )
        assert answer.status_code == 200
        refused = httpx.post(
            f"{base}/api/v1/incidents",
            json={"title": "From a script", "severity": "P3"},
            headers={"Authorization": f"Bearer {secret}"},
        )
        assert refused.status_code == 403

        page.click("text=I copied it: back to my profile")
        row = page.locator("#api-tokens tbody tr").first
        expect(row).to_contain_text("deploy script")
        expect(row).to_contain_text("read only")
        expect(row).to_contain_text("ago")
        assert secret not in page.content()
        page.screenshot(path=str(SHOTS / f"profile-tokens-{size}.png"), full_page=True)
        page.once("dialog", lambda dialog: dialog.accept())
        row.locator("button", has_text="Revoke").click()
        expect(page.locator("#api-tokens tbody tr").first).to_contain_text("revoked")
        assert ApiToken.objects.get().revoked_at is not None

        page.goto(f"{base}/api/v1/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("Incident console API")
        expect(page.locator(".opblock-summary-path").first).to_be_visible()
        page.screenshot(path=str(SHOTS / f"api-docs-{size}.png"), full_page=False)

        page.goto(f"{base}/incidents/integrations/webhooks/")
        page.fill("#webhook-form input[name=url]", "https://tracker.example.com/hooks/console")
        page.check("#webhook-form input[value='incident.declared']")
        page.click("#webhook-form button[type=submit]")
        expect(page.locator("#webhook-secret")).to_contain_text("whsec_")
        page.click("text=I copied it: see the endpoint")
        expect(page.locator("h1")).to_contain_text("tracker.example.com")
        page.screenshot(path=str(SHOTS / f"webhook-{size}.png"), full_page=True)
    finally:
        context.close()
    # The one 422 is the form error this test provokes on purpose.
    assert [e for e in errors if "status of 422" not in e] == []
    assert requests_outside == []
