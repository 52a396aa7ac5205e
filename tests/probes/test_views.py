"""Probes dashboard, probe page and Run now: permissions, filters, query counts, what a page
may show of a probe's configuration, the heartbeat banner, and both ways a check runs (a real
worker on the real broker; inline in the request when the broker is down)."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from celery.contrib.testing.worker import start_worker
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from console.celery import app
from incidents.models import Service
from probes import engine, tasks
from probes.checkers import CheckResult
from probes.models import CheckRequest, Heartbeat, Probe, ProbeResult
from probes.sparkline import build
from tests.conftest import HTMX, PASSWORD, client_for
from tests.console.livecontrol import console_env, free_port, login, manage, runserver
from tests.probes.servers import http_server, json_answer
from tests.waiting import wait_for


def make_probe(name: str = "API health", url: str = "http://127.0.0.1:9/health", **fields):
    probe = Probe(
        name=name,
        kind=fields.pop("kind", "http"),
        config=fields.pop("config", {"url": url}),
        **fields,
    )
    probe.full_clean()
    probe.save()
    return probe


def ok(ms: float = 12.0) -> CheckResult:
    return CheckResult("ok", f"HTTP 200 in {ms:.0f} ms", ms, {"status_code": 200})


def fail() -> CheckResult:
    return CheckResult("critical", "HTTP 500, expected 2xx", 40.0, {"status_code": 500})


@pytest.fixture
def beating(db):
    """A dispatcher that beat just now: no banner."""
    engine.beat("dispatcher", claimed=0)


# -- permissions -----------------------------------------------------------------------------
def urls_for(probe: Probe, check: CheckRequest) -> list[tuple[str, str]]:
    return [
        ("get", "/probes/"),
        ("get", f"/probes/{probe.pk}/"),
        ("post", f"/probes/{probe.pk}/run/"),
        ("get", f"/probes/{probe.pk}/requests/{check.pk}/"),
    ]


def test_anonymous_users_are_sent_to_log_in(responder):
    probe = make_probe()
    check = CheckRequest.objects.create(probe=probe, requested_by=responder)
    for method, url in urls_for(probe, check):
        response = getattr(Client(), method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/?next="), url
    assert CheckRequest.objects.count() == 1


def test_users_without_a_group_get_403_and_nothing_runs(outsider, responder):
    probe = make_probe()
    check = CheckRequest.objects.create(probe=probe, requested_by=responder)
    client = client_for(outsider)
    for method, url in urls_for(probe, check):
        response = getattr(client, method)(url)
        assert response.status_code == 403, url
        assert "Your role does not allow this" in response.content.decode()
        htmx = getattr(client, method)(url, **HTMX)
        assert htmx.status_code == 403 and htmx["Content-Type"].startswith("text/plain")
    assert CheckRequest.objects.count() == 1 and not ProbeResult.objects.exists()
    assert "/probes/" not in client.get("/incidents/").content.decode()


def test_viewing_without_run_permission_hides_run_now_and_refuses_it(groups, responder):
    viewer = User.objects.create_user("vic", password=PASSWORD)
    viewer.user_permissions.add(
        *Group.objects.get(name="Responder").permissions.exclude(codename="run_probe")
    )
    probe = make_probe()
    client = client_for(viewer)
    page = client.get(f"/probes/{probe.pk}/")
    assert page.status_code == 200 and "Run now" not in page.content.decode()
    assert client.post(f"/probes/{probe.pk}/run/").status_code == 403
    assert not CheckRequest.objects.exists()


def test_wrong_methods_are_refused(responder_client):
    probe = make_probe()
    assert responder_client.get(f"/probes/{probe.pk}/run/").status_code == 405
    assert responder_client.post("/probes/").status_code == 405
    assert responder_client.post(f"/probes/{probe.pk}/").status_code == 405
    assert not CheckRequest.objects.exists()


def test_unknown_probe_or_request_is_404(responder_client, responder):
    probe = make_probe()
    other = make_probe("Other")
    check = CheckRequest.objects.create(probe=other, requested_by=responder)
    assert responder_client.get("/probes/999999/").status_code == 404
    assert responder_client.post("/probes/999999/run/").status_code == 404
    assert responder_client.get(f"/probes/{probe.pk}/requests/999999/").status_code == 404
    # A request belongs to its probe: the URL of another probe's request is not found.
    assert (
        responder_client.get(f"/probes/{probe.pk}/requests/{check.pk}/", **HTMX).status_code == 404
    )


# -- dashboard -------------------------------------------------------------------------------
def test_dashboard_shows_every_probe_with_state_sparkline_and_failures(
    responder_client, service, beating
):
    api = make_probe("API health", service=service)
    for ms in (10, 30, 20):
        engine.record_result(api, ok(ms))
    db = make_probe("Primary DB", kind="postgres", config={"dsn_env": "DATABASE_URL"})
    engine.record_result(db, ok(5))
    engine.record_result(db, fail())
    engine.record_result(db, fail())
    make_probe("Never run", enabled=False)

    response = responder_client.get("/probes/")
    assert response.status_code == 200
    html = response.content.decode()
    rows = response.context["probes"]
    # Worst first, then by name.
    assert [p.name for p in rows] == ["Primary DB", "Never run", "API health"]
    assert '<span class="pr-state pr-state-critical">Critical</span>' in html
    assert '<span class="pr-state pr-state-ok">OK</span>' in html
    assert '<span class="pr-state pr-state-unknown">Unknown</span>' in html
    assert "Latency of the last 3 results: min 10 ms, max 30 ms" in html
    assert "<polyline" in html and "spark-mark-critical" in html
    assert "HTTP 500, expected 2xx" in html and "Paused" in html and "Payments" in html
    db_row = html[html.index("Primary DB") : html.index("Never run")]
    assert '<td class="num text-breach">2</td>' in db_row
    assert "Scheduler stopped" not in html
    # A clock that ticks in the browser, the absolute time in its title.
    assert re.search(r'<time datetime="[^"]+" title="\d{4}-\d\d-\d\d \d\d:\d\d:\d\d', html)
    # The state filter shows how many probes are in each state.
    counts = {f["value"]: f["count"] for f in response.context["state_filters"]}
    assert counts == {"": 3, "ok": 1, "warning": 0, "critical": 1, "error": 0, "unknown": 1}


def test_sparkline_keeps_the_last_50_results_of_each_probe(responder_client, beating):
    probe = make_probe()
    now = timezone.now()
    ProbeResult.objects.bulk_create(
        ProbeResult(
            probe=probe,
            checked_at=now - timedelta(seconds=70 - n),
            status="ok",
            latency_ms=float(n),
            summary="ok",
        )
        for n in range(70)
    )
    other = make_probe("Other")
    engine.record_result(other, ok(999))
    response = responder_client.get("/probes/")
    spark = next(p for p in response.context["probes"] if p.pk == probe.pk).sparkline
    # The newest 50: latencies 20..69, oldest first.
    assert spark.count == 50 and spark.min_ms == 20 and spark.max_ms == 69
    assert "Latency of the last 50 results: min 20 ms, max 69 ms" in response.content.decode()


def test_filters_by_state_and_service(responder_client, service, beating):
    other_service = Service.objects.create(name="Search")
    failing = make_probe("Checkout", service=service)
    engine.record_result(failing, fail())
    healthy = make_probe("Search API", service=other_service)
    engine.record_result(healthy, ok())
    make_probe("Unscheduled")

    def names(query: str, **headers) -> list[str]:
        response = responder_client.get(f"/probes/{query}", **headers)
        assert response.status_code == 200
        return [p.name for p in response.context["probes"]]

    assert names("?state=critical") == ["Checkout"]
    assert names("?state=ok") == ["Search API"]
    assert names(f"?service={other_service.pk}") == ["Search API"]
    assert names(f"?service={service.pk}&state=ok") == []
    assert names("?state=&service=") == ["Checkout", "Unscheduled", "Search API"]
    assert names("?state=unknown", **HTMX) == ["Unscheduled"]
    empty = responder_client.get(f"/probes/?service={service.pk}&state=ok").content.decode()
    assert "No probes match these filters" in empty

    # The htmx request gets the table alone.
    fragment = responder_client.get("/probes/?state=critical", **HTMX).content.decode()
    assert fragment.lstrip().startswith('<div id="probe-table"') and "<html" not in fragment
    # Back in the browser: htmx asks for the page it pushed, and needs all of it.
    restore = {**HTMX, "HTTP_HX_HISTORY_RESTORE_REQUEST": "true"}
    page = responder_client.get("/probes/?state=critical", **restore).content.decode()
    assert "<html" in page and 'id="probe-table"' in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "?state=bogus",
            "Unknown state “bogus”: filter by one of unknown, ok, warning, critical, error.",
        ),
        ("?service=999999", "There is no service with id “999999”."),
        ("?service=abc", "There is no service with id “abc”."),
    ],
)
def test_invalid_filters_are_a_400_with_the_reason(responder_client, query, message):
    make_probe()
    response = responder_client.get(f"/probes/{query}")
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html and "Show all probes" in html and "API health" not in html
    htmx = responder_client.get(f"/probes/{query}", **HTMX)
    assert htmx.status_code == 400 and htmx["Content-Type"].startswith("text/plain")
    assert message in htmx.content.decode()


def test_heartbeat_banner_when_the_scheduler_stopped(responder_client):
    make_probe()
    html = responder_client.get("/probes/").content.decode()
    assert "Scheduler stopped:" in html and "no heartbeat has ever been recorded" in html
    assert "probes are not running" in html

    engine.beat("dispatcher", claimed=1)
    html = responder_client.get("/probes/").content.decode()
    assert "Scheduler stopped" not in html

    Heartbeat.objects.filter(name="dispatcher").update(
        beat_at=timezone.now() - timedelta(minutes=3, seconds=5)
    )
    html = responder_client.get("/probes/").content.decode()
    assert "Scheduler stopped:" in html and "last heartbeat 3m ago" in html
    # The probe page says so too, and so does the refreshing part of the dashboard.
    probe = Probe.objects.get()
    assert "last heartbeat 3m ago" in responder_client.get(f"/probes/{probe.pk}/").content.decode()
    assert "last heartbeat 3m ago" in responder_client.get("/probes/", **HTMX).content.decode()

    # Within the threshold: no banner.
    Heartbeat.objects.filter(name="dispatcher").update(
        beat_at=timezone.now() - timedelta(seconds=20)
    )
    assert "Scheduler stopped" not in responder_client.get("/probes/").content.decode()


def add_probes(count: int, service: Service, results_each: int) -> None:
    now = timezone.now()
    probes = Probe.objects.bulk_create(
        Probe(
            name=f"probe-{n:03d}",
            kind="http",
            config={"url": f"http://127.0.0.1:9/{n}"},
            service=service,
            state=["ok", "critical", "warning"][n % 3],
            last_checked_at=now,
            last_summary="HTTP 200",
            last_latency_ms=12.0,
        )
        for n in range(count)
    )
    ProbeResult.objects.bulk_create(
        ProbeResult(
            probe=probe,
            checked_at=now - timedelta(seconds=60 * k),
            status="critical" if k % 7 == 0 else "ok",
            latency_ms=None if k % 7 == 0 else 10.0 + k,
            summary="x",
        )
        for probe in probes
        for k in range(results_each)
    )


@pytest.mark.parametrize("size", [3, 30])
def test_dashboard_queries_do_not_grow_with_probes(
    responder_client, service, beating, size, django_assert_num_queries
):
    add_probes(size, service, results_each=80)
    # session, user, user permissions, group permissions, the count per state, the probes
    # (+ service, + each one's sparkline bound), the last 50 results of all of them,
    # the heartbeat, the services of the filter
    with django_assert_num_queries(9):
        response = responder_client.get("/probes/")
    assert response.status_code == 200
    assert len(response.context["probes"]) == size
    assert all(p.sparkline.count == 50 for p in response.context["probes"])
    # Filtered: one more, to check the chosen service exists.
    with django_assert_num_queries(10):
        response = responder_client.get(f"/probes/?service={service.pk}&state=critical")
    assert len(response.context["probes"]) == len(range(1, size, 3))
    # The table's refresh: the same minus the form's services.
    with django_assert_num_queries(8):
        responder_client.get("/probes/", **HTMX)


# -- probe page ------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [5, 300])
def test_probe_page_queries_do_not_grow_with_history(
    responder_client, service, beating, size, django_assert_num_queries
):
    add_probes(1, service, results_each=size)
    probe = Probe.objects.get()
    # session, user, user permissions, group permissions, the probe (+ service, open
    # incident, scenario, version, runbook), the history's count, its page (+ request,
    # requester), the sparkline's 50, the flips, a pending request, the heartbeat
    with django_assert_num_queries(11):
        response = responder_client.get(f"/probes/{probe.pk}/")
    assert response.status_code == 200
    assert len(response.context["page"].object_list) == min(size, 50)


def test_probe_page_shows_state_history_flips_and_config(
    responder_client, responder, service, incident, beating
):
    probe = make_probe(
        "Checkout health",
        service=service,
        failures_to_open=2,
        incident_severity="P1",
        config={
            "url": "https://shop.example/health",
            "expect": ['status == "ok"'],
            "latency_warn_ms": 300,
        },
        interval=timedelta(seconds=30),
        timeout=timedelta(seconds=4),
    )
    engine.record_result(probe, ok(11))
    engine.record_result(probe, fail())
    engine.record_result(probe, fail())
    probe.refresh_from_db()
    assert probe.open_incident is not None
    html = responder_client.get(f"/probes/{probe.pk}/").content.decode()
    assert "Checkout health" in html and "Payments" in html
    assert "pr-state-big pr-state-critical" in html
    assert "2 consecutive failures" in html and "an incident opens at 2" in html
    assert probe.open_incident.reference in html
    assert "every 30s" in html and "<dt>Timeout</dt><dd>4s</dd>" in html
    assert "P1 after 2 failures in a row" in html
    assert "<code>https://shop.example/health</code>" in html
    assert "<code>status == &quot;ok&quot;</code>" in html
    assert html.count('<tr class="pr-row pr-row-') == 3
    assert "Unknown</span> →" in html and "OK</span> →" in html  # two flips
    assert "Latency · last 3 results" in html and "spark-big" in html
    assert "Run now" in html


def test_probe_page_never_shows_secrets(responder_client, beating, monkeypatch):
    monkeypatch.setenv("PAYMENTS_DB_URL", "postgres://app:pg-secret-value@127.0.0.1:9/pay")
    postgres = make_probe("Payments DB", kind="postgres", config={"dsn_env": "PAYMENTS_DB_URL"})
    # A real run against nothing listening: the result names the target, redacted.
    tasks.run_probe(postgres.pk)
    assert ProbeResult.objects.get(probe=postgres).status == "critical"
    html = responder_client.get(f"/probes/{postgres.pk}/").content.decode()
    assert "<code>$PAYMENTS_DB_URL</code>" in html and "its value is never shown" in html
    assert "pg-secret-value" not in html
    assert "postgres://app:•••@127.0.0.1:9/pay" in html  # in the result's summary
    assert "pg-secret-value" not in responder_client.get("/probes/").content.decode()

    http = make_probe(
        "Partner API",
        config={
            "url": "https://ops:basic-auth-pw@partner.example/v1/health?api_key=k-123&x=1",
            "headers": {"Authorization": "Bearer tok-456", "Accept": "application/json"},
        },
    )
    html = responder_client.get(f"/probes/{http.pk}/").content.decode()
    for secret in ("basic-auth-pw", "k-123", "tok-456"):
        assert secret not in html
    assert "https://ops:•••@partner.example/v1/health?api_key=•••&amp;x=1" in html
    assert "application/json" in html


# -- run now ---------------------------------------------------------------------------------
def test_run_now_without_htmx_redirects_back_to_the_probe(responder_client, responder, beating):
    probe = make_probe()
    response = responder_client.post(f"/probes/{probe.pk}/run/")
    assert response.status_code == 302 and response["Location"] == f"/probes/{probe.pk}/"
    check = CheckRequest.objects.get()
    assert check.probe == probe and check.requested_by == responder
    # Inside the test's transaction the task is published on commit, so it is still pending:
    # the page follows it.
    page = responder_client.get(response["Location"]).content.decode()
    assert "Check requested" in page and "Running…" in page
    assert f'hx-get="/probes/{probe.pk}/requests/{check.pk}/"' in page


def test_run_now_htmx_answers_running_then_the_result(responder_client, responder, beating):
    probe = make_probe()
    response = responder_client.post(f"/probes/{probe.pk}/run/", **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    check = CheckRequest.objects.get()
    assert "Running…" in html and 'hx-trigger="every 1s"' in html
    assert f'hx-get="/probes/{probe.pk}/requests/{check.pk}/"' in html
    assert "HX-Trigger" not in response
    poll_url = f"/probes/{probe.pk}/requests/{check.pk}/"
    assert "Running…" in responder_client.get(poll_url, **HTMX).content.decode()
    # Without htmx the poll URL is no page of its own.
    assert responder_client.get(poll_url)["Location"] == f"/probes/{probe.pk}/"



@pytest.mark.django_db(transaction=True)
def test_run_now_is_run_by_a_real_worker_and_the_poll_shows_the_result(responder):
    engine.beat("dispatcher")
    app.control.purge()
    with (
        http_server({"/health": json_answer(200, {"status": "ok"})}) as (base, recorder),
        start_worker(
            app, pool="solo", concurrency=1, perform_ping_check=False, shutdown_timeout=10
        ),
    ):
        probe = make_probe(url=f"{base}/health")
        client = client_for(responder)
        response = client.post(f"/probes/{probe.pk}/run/", **HTMX)
        assert response.status_code == 200
        check = CheckRequest.objects.get()
        assert not check.inline
        poll_url = f"/probes/{probe.pk}/requests/{check.pk}/"
        assert poll_url in response.content.decode()
        assert wait_for(lambda: CheckRequest.objects.filter(result__isnull=False).exists())
    assert recorder.paths == ["/health"]
    final = client.get(poll_url, **HTMX)
    html = final.content.decode()
    assert '<span class="pr-state pr-state-ok">OK</span>' in html
    assert re.search(r"\d+ ms</strong>", html) and "HTTP 200 in" in html
    assert "hx-trigger" not in html and "Running" not in html
    assert "Ran in this request" not in html
    assert final["HX-Trigger"] == "probe-ran"
    result = ProbeResult.objects.get()
    assert result.source == ProbeResult.Source.MANUAL
    # The refreshed page lists it as a Run now by the responder.
    page = client.get(f"/probes/{probe.pk}/", **HTMX).content.decode()
    assert "Run now" in page and responder.username in page


CREATE_PROBE = """
from django.contrib.auth.models import Group, User
from probes.models import Probe
u = User.objects.create_user("rita", password="pw-for-tests")
u.groups.add(Group.objects.get(name="Responder"))
p = Probe(name="Console health", kind="http", config={{"url": "{url}"}})
p.full_clean()
p.save()
print(p.pk)
"""


def test_run_now_with_the_broker_down_runs_inline(tmp_path):
    """A console whose Redis is unreachable: the check runs in the request, and says so."""
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    env = console_env(tmp_path, REDIS_URL=dead_redis)
    with http_server({"/health": json_answer(200, {"status": "ok"})}) as (target, recorder):
        manage(env, "migrate", "--noinput", "-v0")
        pk = int(
            manage(env, "shell", "-c", CREATE_PROBE.format(url=f"{target}/health"))
            .strip()
            .splitlines()[-1]
        )
        with runserver(env) as base, httpx.Client(base_url=base, timeout=30) as client:
            login(client, "rita", "pw-for-tests")
            headers = {"HX-Request": "true", "X-CSRFToken": client.cookies["csrftoken"]}
            response = client.post(f"/probes/{pk}/run/", headers=headers)
            assert response.status_code == 200, response.text[:500]
            assert "Ran in this request: the task queue is unavailable." in response.text
            assert '<span class="pr-state pr-state-ok">OK</span>' in response.text
            assert "hx-trigger" not in response.text
            assert response.headers["HX-Trigger"] == "probe-ran"
            assert recorder.paths == ["/health"]

            # Without htmx: back to the probe page, which says what happened.
            response = client.post(
                f"/probes/{pk}/run/",
                data={"csrfmiddlewaretoken": client.cookies["csrftoken"]},
            )
            assert response.status_code == 302
            page = client.get(response.headers["Location"]).text
            assert "Ran in this request: the task queue is unavailable." in page
            assert page.count(">inline</span>") == 2  # both results, in the history


# -- seed, admin, sparkline ------------------------------------------------------------------
def test_seed_demo_adds_probes_once_and_grants_the_probe_permissions(db):
    call_command("seed_demo")
    names = set(Probe.objects.values_list("name", flat=True))
    call_command("seed_demo")
    assert set(Probe.objects.values_list("name", flat=True)) == names
    assert len(names) >= 4
    for probe in Probe.objects.all():
        probe.full_clean()  # every demo probe has a valid configuration
    responder = User.objects.get(username="responder")
    assert responder.has_perm("probes.view_probe") and responder.has_perm("probes.run_probe")
    assert not responder.has_perm("probes.change_probe")
    lead = User.objects.get(username="lead")
    assert lead.has_perm("probes.add_probe") and lead.has_perm("probes.change_probe")


def test_admin_validates_the_configuration_for_the_kind(admin_client):
    form = {
        "name": "Sessions",
        "kind": "redis",
        "config": '{"url_env": "redis://h:6379"}',
        "interval_0": "",
        "interval": "00:01:00",
        "timeout": "00:00:05",
        "enabled": "on",
        "failures_to_open": "3",
        "incident_severity": "P2",
    }
    response = admin_client.post("/admin/probes/probe/add/", form)
    assert response.status_code == 200
    assert "Name an environment variable" in response.content.decode()
    assert not Probe.objects.exists()

    form["config"] = '{"url_env": "REDIS_URL"}'
    response = admin_client.post("/admin/probes/probe/add/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    probe = Probe.objects.get()
    assert probe.config["url_env"] == "REDIS_URL" and "memory_warn_pct" in probe.config
    engine.record_result(probe, ok())
    for url in (
        "/admin/probes/probe/",
        f"/admin/probes/probe/{probe.pk}/change/",
        "/admin/probes/proberesult/",
        "/admin/probes/checkrequest/",
        "/admin/probes/stepcheck/",
        "/admin/probes/heartbeat/",
    ):
        assert admin_client.get(url).status_code == 200, url
    assert admin_client.get("/admin/probes/proberesult/add/").status_code == 403


class Point:
    def __init__(self, latency_ms, status="ok"):
        self.latency_ms, self.status = latency_ms, status


def test_sparkline_breaks_at_missing_latencies_and_marks_failures():
    spark = build(
        [Point(10), Point(20), Point(None, "critical"), Point(40), Point(30, "warning")],
        width=100,
        height=24,
        slots=10,
    )
    assert len(spark.lines) == 2
    assert [m.status for m in spark.marks] == ["critical", "warning"]
    # Right-aligned in 10 slots of 10 px: the first of five results sits in slot 6.
    assert spark.lines[0].startswith("55.0,")
    assert spark.last[0] == 95.0 and spark.last[2] == "warning"
    assert (spark.min_ms, spark.max_ms, spark.median_ms) == (10, 40, 25)
    # The tallest point touches the top padding; zero would sit on the baseline.
    assert "85.0,2.0" in spark.lines[1]
    assert build([]).title == "No results yet"
    assert build([Point(None, "error")]).title == "Last result: no latency measured"
    assert build([Point(7)]).title == "Latency of the last result: min 7 ms, max 7 ms"


def test_leads_pause_and_schedule_probes(lead, responder):
    probe = Probe.objects.create(
        name="Checkout", kind="http", config={"url": "http://127.0.0.1:9/"}, enabled=False
    )
    url = f"/probes/{probe.pk}/schedule/"
    assert client_for(responder).post(url, {"enabled": "1"}).status_code == 403
    page = client_for(responder).get(f"/probes/{probe.pk}/").content.decode()
    assert 'id="probe-schedule"' not in page
    lead_client = client_for(lead)
    assert 'id="probe-schedule"' in lead_client.get(f"/probes/{probe.pk}/").content.decode()
    assert lead_client.post(url, {"enabled": "maybe"}).status_code == 400
    assert lead_client.get(url).status_code == 405
    response = lead_client.post(url, {"enabled": "1"}, follow=True)
    assert "is scheduled every 60 s" in response.content.decode()
    probe.refresh_from_db()
    assert probe.enabled and probe.next_run_at <= timezone.now()
    lead_client.post(url, {"enabled": "0"})
    probe.refresh_from_db()
    assert not probe.enabled


def test_a_fresh_migrate_grants_the_groups_every_apps_permissions(db):
    """post_migrate syncs the groups after the last app, when probes' and runbooks'
    permissions exist too."""
    responder = set(
        Group.objects.get(name="Responder").permissions.values_list("codename", flat=True)
    )
    assert {"view_probe", "run_probe", "view_runbook", "declare_incident"} <= responder
    lead = set(Group.objects.get(name="Lead").permissions.values_list("codename", flat=True))
    assert {"add_probe", "change_probe", "import_runbook"} <= lead
