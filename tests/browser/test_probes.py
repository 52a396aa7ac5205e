"""A responder on call opens the probes dashboard, filters it, opens a probe and runs it now:
once through a real Celery worker (the page polls until the result lands), once on a console
whose broker is down (the check runs in the request and the page says so)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone
from playwright.sync_api import expect

from console.celery import app
from incidents.models import Service
from probes import engine
from probes.checkers import CheckResult
from probes.models import CheckRequest, Probe, ProbeResult
from tests.browser.conftest import log_in, watch_errors
from tests.conftest import PASSWORD
from tests.console.livecontrol import console_env, free_port, manage, runserver
from tests.probes.servers import http_server, json_answer

pytestmark = pytest.mark.browser


def history(probe: Probe, latencies: list[float | None], failing_every: int = 0) -> None:
    """Past results, one a minute, oldest first; every `failing_every`-th one failed."""
    now = timezone.now()
    ProbeResult.objects.bulk_create(
        ProbeResult(
            probe=probe,
            checked_at=now - timedelta(minutes=len(latencies) - n),
            status="critical" if failing_every and n % failing_every == failing_every - 1 else "ok",
            latency_ms=ms,
            summary="HTTP 200" if ms else "timed out after 5 s",
        )
        for n, ms in enumerate(latencies)
    )


def make_fleet(base: str) -> dict[str, Probe]:
    api, payments, db = (
        Service.objects.create(name=name) for name in ("API gateway", "Payments", "PostgreSQL")
    )
    checkout = Probe(
        name="Checkout API",
        kind="http",
        service=api,
        config={"url": f"{base}/health", "latency_warn_ms": 500},
    )
    stripe = Probe(
        name="Stripe webhooks", kind="http", service=payments, config={"url": f"{base}/stripe"}
    )
    primary = Probe(
        name="Primary database", kind="postgres", service=db, config={"dsn_env": "DATABASE_URL"}
    )
    replica = Probe(
        name="Read replica lag",
        kind="tcp",
        service=db,
        enabled=False,
        config={"host": "127.0.0.1", "port": 9},
    )
    for probe in (checkout, stripe, primary, replica):
        probe.full_clean()
        probe.save()
    history(checkout, [40 + (n * 37) % 25 + (160 if n in (31, 32) else 0) for n in range(60)])
    engine.record_result(checkout, CheckResult("ok", "HTTP 200 in 48 ms", 48.0))
    history(stripe, [220 + (n * 53) % 140 for n in range(40)], failing_every=9)
    engine.record_result(stripe, CheckResult("warning", "HTTP 200 in 612 ms (slow)", 612.0))
    history(primary, [8 + (n * 7) % 5 for n in range(45)] + [None, None, None])
    for _ in range(3):
        engine.record_result(primary, CheckResult("critical", "cannot query: connection refused"))
    return {"checkout": checkout, "stripe": stripe, "primary": primary, "replica": replica}


def test_dashboard_filter_and_run_now_through_a_worker(
    browser, live_server, responder, screenshot_dir
):
    base = live_server.url
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    errors: list[str] = []
    app.control.purge()
    with (
        http_server(
            {
                "/health": json_answer(200, {"status": "ok"}),
                "/stripe": json_answer(200, {"ok": True}),
            }
        ) as (target, recorder),
        start_worker(
            app, pool="solo", concurrency=1, perform_ping_check=False, shutdown_timeout=10
        ),
    ):
        fleet = make_fleet(target)
        engine.beat("dispatcher", claimed=0)
        try:
            page = context.new_page()
            watch_errors(page, errors)
            log_in(page, base, responder.username, PASSWORD)
            page.click("nav.topnav >> text=Probes")
            page.wait_for_url(f"{base}/probes/")

            rows = page.locator("#probe-table tbody tr")
            expect(rows).to_have_count(4)
            # Worst first; state in colour and in words.
            expect(rows.nth(0)).to_contain_text("Primary database")
            expect(rows.nth(0).locator(".pr-state")).to_have_text("Critical")
            expect(rows.nth(0)).to_contain_text("INC-")  # three failures opened an incident
            expect(rows.nth(1).locator(".pr-state")).to_have_text("Warning")
            expect(page.locator(".pr-row.is-paused")).to_contain_text("Paused")
            checkout = page.locator("tr", has_text="Checkout API")
            expect(checkout.locator(".pr-state")).to_have_text("OK")
            spark = checkout.locator("svg.spark")
            expect(spark.locator("polyline")).to_have_count(1)
            expect(spark.locator("title")).to_have_text(
                re.compile(r"Latency of the last 50 results: min \d+ ms, max \d+ ms")
            )
            expect(page.locator(".pr-banner")).to_have_count(0)
            page.screenshot(path=str(screenshot_dir / "probes-dashboard.png"), full_page=True)

            # Filter by state: the table alone is replaced, the address follows.
            page.evaluate("window.__noReload = 'still here'")
            page.locator(".pr-states label", has_text="Critical").click()
            expect(rows).to_have_count(1)
            expect(rows.first).to_contain_text("Primary database")
            expect(page).to_have_url(re.compile(r"state=critical"))
            page.locator(".pr-states label", has_text="OK").click()
            expect(rows).to_have_count(1)
            expect(rows.first).to_contain_text("Checkout API")
            assert page.evaluate("window.__noReload") == "still here"
            # Back restores the critical filter, as a whole page.
            page.go_back()
            expect(page).to_have_url(re.compile(r"state=critical"))
            expect(rows).to_have_count(1)
            expect(rows.first).to_contain_text("Primary database")
            expect(page.locator("h1")).to_have_text("Probes")
            expect(page.locator(".pr-states input[value=critical]")).to_be_checked()
            page.go_forward()
            expect(rows.first).to_contain_text("Checkout API")

            # The probe page: state, config, history; then Run now.
            page.click("text=Checkout API")
            page.wait_for_url(f"{base}/probes/{fleet['checkout'].pk}/")
            expect(page.locator(".pr-status .pr-state")).to_have_text("OK")
            expect(page.locator(".pr-config")).to_contain_text(f"{target}/health")
            expect(page.locator(".pr-history tbody tr")).to_have_count(50)
            page.evaluate("window.__noReload = 'still here'")
            before = len(recorder.paths)
            page.click("button:has-text('Run now')")
            result = page.locator("#run-result")
            expect(result).to_contain_text("HTTP 200 in", timeout=20_000)
            expect(result.locator(".pr-state")).to_have_text("OK")
            expect(result).to_contain_text(re.compile(r"\d+ ms"))
            expect(result).not_to_contain_text("Ran in this request")
            # Polling stopped: the final fragment carries no trigger.
            assert result.get_attribute("hx-trigger") is None
            check = CheckRequest.objects.get()
            assert check.result is not None and not check.inline
            assert len(recorder.paths) == before + 1
            # The history picked the run up without a reload.
            first = page.locator(".pr-history tbody tr").first
            expect(first).to_contain_text("Run now")
            expect(first).to_contain_text(responder.username)
            assert page.evaluate("window.__noReload") == "still here"
            page.screenshot(path=str(screenshot_dir / "probe-page.png"), full_page=True)
            assert errors == []
        finally:
            context.close()


CREATE = """
from django.contrib.auth.models import Group, User
from incidents.permissions import sync_role_groups
from probes.models import Probe
sync_role_groups()  # as seed_demo does; see tests/probes/test_views.py
u = User.objects.create_user("rita", password="pw-for-tests")
u.groups.add(Group.objects.get(name="Responder"))
p = Probe(name="Checkout API", kind="http", config={{"url": "{url}"}})
p.full_clean()
p.save()
print(p.pk)
"""


def test_run_now_with_the_broker_down_shows_the_result_inline(browser, tmp_path, screenshot_dir):
    env = console_env(tmp_path, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    errors: list[str] = []
    with http_server({"/health": json_answer(200, {"status": "ok"})}) as (target, recorder):
        manage(env, "migrate", "--noinput", "-v0")
        pk = int(manage(env, "shell", "-c", CREATE.format(url=f"{target}/health")).split()[-1])
        with runserver(env) as base:
            try:
                page = context.new_page()
                watch_errors(page, errors)
                log_in(page, base, "rita", "pw-for-tests")
                page.goto(f"{base}/probes/")
                # No scheduler runs here: the dashboard says so, loudly.
                expect(page.locator(".pr-banner")).to_contain_text(
                    "Scheduler stopped: no heartbeat has ever been recorded"
                )
                expect(page.locator(".pr-banner")).to_contain_text("probes are not running")
                page.click("text=Checkout API")
                page.wait_for_url(f"{base}/probes/{pk}/")
                page.click("button:has-text('Run now')")
                result = page.locator("#run-result")
                expect(result).to_contain_text(
                    "Ran in this request: the task queue is unavailable."
                )
                expect(result.locator(".pr-state")).to_have_text("OK")
                expect(page.locator(".pr-history tbody tr").first).to_contain_text("inline")
                assert recorder.paths == ["/health"]
                page.screenshot(path=str(screenshot_dir / "probe-run-inline.png"), full_page=True)
                assert errors == []
            finally:
                context.close()
