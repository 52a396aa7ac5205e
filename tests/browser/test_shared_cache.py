"""The public status page is right in every process of a `make run` (embedded defaults): two
gunicorn workers, the version bump made by whichever one served the resolve, then twelve
reads of /status.json spread over both workers, every one saying resolved."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import expect

from tests.console.livecontrol import ROOT, console_env, manage, wait_for_http

pytestmark = pytest.mark.browser

PASSWORD = "shared-cache-demo"


@pytest.fixture
def two_workers(tmp_path) -> Iterator[str]:
    """gunicorn with two sync workers on the embedded defaults (SQLite, file cache), on a
    socket bound to port 0 and handed over (`fd://`), as `make run` serves."""
    env = console_env(tmp_path / "var", DEMO_PASSWORD=PASSWORD)
    manage(env, "migrate", "--noinput")
    manage(env, "seed_demo")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.set_inheritable(True)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "console.wsgi:application",
         "--bind", f"fd://{sock.fileno()}", "--workers", "2", "--no-control-socket"],
        cwd=ROOT, env=env, pass_fds=[sock.fileno()],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_for_http(f"{base}/healthz", server)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=15)
        sock.close()


def status_reads(base: str, times: int) -> list[dict]:
    # A new connection per read: gunicorn's workers take turns accepting them.
    return [httpx.get(f"{base}/status.json", timeout=10).json() for _ in range(times)]



def test_status_page_is_fresh_in_every_worker_after_a_resolve(browser, two_workers):
    base = two_workers
    # Warm every worker's view of the page while the incident is open.
    before = status_reads(base, 20)
    open_names = {i["name"] for r in before for i in r["incidents"]}
    assert open_names, "the demo publishes updates on an open incident"
    name = sorted(open_names)[0]

    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{base}/login/")
        page.fill("input[name=username]", "lead")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/incidents/")
        page.goto(f"{base}/status/")
        expect(page.locator("body")).to_contain_text(name)
        # The incident behind that public name, from the status page's own JSON.
        incident_id = next(i["id"] for i in before[0]["incidents"] if i["name"] == name)
        page.goto(f"{base}/incidents/{incident_id}/")
        controls = page.locator("#controls")
        controls.locator("select[name=status]").select_option("resolved")
        controls.get_by_role("button", name="Update status").click()
        expect(page.locator("#incident-header")).to_contain_text("Resolved", timeout=8_000)
    finally:
        context.close()

    after = status_reads(base, 12)
    still_open = [r["status"]["description"] for r in after if any(
        i["id"] == incident_id for i in r["incidents"])]
    assert still_open == [], f"{len(still_open)} of 12 reads still show the incident open"
    assert re.match(r"^[a-z_]+$", after[-1]["status"]["indicator"])
