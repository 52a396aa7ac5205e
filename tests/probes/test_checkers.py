"""Every checker against the real thing on 127.0.0.1."""

from __future__ import annotations

import os
import socket

import psycopg
import pytest
from django.core.exceptions import ValidationError

from probes.checkers import CHECKERS, celery_queue
from tests.probes.servers import (
    free_port,
    http_server,
    json_answer,
    redis_server,
    self_signed,
    stripe_routes,
)
from tests.waiting import wait_for

http, tcp, tls, dns = CHECKERS["http"], CHECKERS["tcp"], CHECKERS["tls"], CHECKERS["dns"]
HEALTHY = {"status": "healthy", "services": {"database": "healthy", "ai": "healthy"}}
DEGRADED = {"status": "degraded", "services": {"database": "unhealthy", "ai": "healthy"}}


def run_http(url: str, timeout: float = 2, **config) -> object:
    return http.run(http.clean({"url": url, **config}), timeout)


# -- http ------------------------------------------------------------------------------------
def test_http_status_latency_and_json_expectations():
    routes = {
        "/health": json_answer(200, HEALTHY),
        "/degraded": json_answer(200, DEGRADED),
        "/down": json_answer(503, {"status": "down"}),
        "/slow": json_answer(200, HEALTHY, delay=0.3),
        "/text": lambda h: (200, {"Content-Type": "text/plain"}, b"OK"),
        "/moved": lambda h: (302, {"Location": "/health"}, b""),
    }
    expect = ['status == "healthy"', 'services.database == "healthy"']
    with http_server(routes) as (base, recorder):
        ok = run_http(f"{base}/health", expect=expect)
        assert ok.status == "ok" and ok.summary.startswith("HTTP 200 in")
        assert ok.details["status_code"] == 200 and ok.latency_ms > 0

        bad = run_http(f"{base}/degraded", expect=expect)
        assert bad.status == "critical"
        assert 'status is "degraded", expected == "healthy"' in bad.summary
        assert 'services.database is "unhealthy"' in bad.summary

        down = run_http(f"{base}/down")
        assert down.status == "critical" and "HTTP 503, expected 2xx" in down.summary
        assert '"down"' in down.details["body"]
        assert run_http(f"{base}/down", expected_status=503).status == "ok"

        slow = run_http(f"{base}/slow", latency_warn_ms=100, latency_crit_ms=5000)
        assert slow.status == "warning" and slow.latency_ms >= 300
        assert run_http(f"{base}/slow", latency_crit_ms=100).status == "critical"
        timed_out = run_http(f"{base}/slow", timeout=0.1)
        assert timed_out.status == "critical" and "timed out" in timed_out.summary

        assert run_http(f"{base}/text", expect=["status exists"]).summary == "body is not JSON"
        assert run_http(f"{base}/moved").status == "critical"
        followed = run_http(f"{base}/moved", follow_redirects=True, expect=expect)
        assert followed.status == "ok" and followed.details["redirects"]
        assert run_http(f"{base}/health", method="HEAD").status == "ok"
    assert recorder.paths.count("/health") >= 3


def test_http_connection_refused_is_critical():
    result = run_http(f"http://127.0.0.1:{free_port()}/health")
    assert result.status == "critical" and result.summary.startswith("cannot connect")


def test_http_tls_verification(tmp_path):
    cert = self_signed(tmp_path)
    with http_server({"/health": json_answer(200, HEALTHY)}, certfile=cert) as (base, _):
        refused = run_http(f"{base}/health")
        assert refused.status == "critical" and "TLS verification failed" in refused.summary
        assert run_http(f"{base}/health", verify_tls=False).status == "ok"


def test_http_run_many_is_concurrent():
    with http_server({"/slow": json_answer(200, HEALTHY, delay=0.2)}) as (base, recorder):
        config = http.clean({"url": f"{base}/slow"})
        results = http.run_many((n, config, 5) for n in range(60))
    assert len(results) == 60 and all(r.status == "ok" for r in results.values())
    # Sequential requests would never overlap; one AsyncClient overlaps nearly all of them.
    assert recorder.max_in_flight >= 30


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"url": "ftp://x"}, "config.url"),
        ({"url": "http://x", "method": "DELETE"}, "config.method"),
        ({"url": "http://x", "expected_status": "6xx"}, "config.expected_status"),
        ({"url": "http://x", "latency_warn_ms": -1}, "config.latency_warn_ms"),
        ({"url": "http://x", "expect": ["no operator here"]}, "config.expect"),
    ],
)
def test_http_config_is_validated(config, field):
    with pytest.raises(ValidationError) as caught:
        http.clean(config)
    assert field in caught.value.message_dict


# -- tcp, tls, dns ---------------------------------------------------------------------------
def test_tcp_open_and_closed_ports():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        ok = tcp.run(tcp.clean({"host": "127.0.0.1", "port": port}), 1)
        assert ok.status == "ok" and "accepts connections" in ok.summary
    closed = tcp.run(tcp.clean({"host": "127.0.0.1", "port": free_port()}), 1)
    assert closed.status == "critical"


def test_tls_days_to_expiry(tmp_path):
    for days, expected in [(365, "ok"), (14, "warning"), (3, "critical")]:
        cert = self_signed(tmp_path, days=days)
        with http_server({}, certfile=cert) as (base, _):
            port = int(base.rsplit(":", 1)[1])
            config = tls.clean({"host": "127.0.0.1", "port": port, "ca_file": str(cert)})
            result = tls.run(config, 2)
        assert result.status == expected, result.summary
        assert abs(result.details["days_left"] - days) < 1.1
    untrusted = self_signed(tmp_path, days=30)
    with http_server({}, certfile=untrusted) as (base, _):
        port = int(base.rsplit(":", 1)[1])
        result = tls.run(tls.clean({"host": "127.0.0.1", "port": port}), 2)
    assert result.status == "critical" and "not trusted" in result.summary


def test_dns_resolution():
    ok = dns.run(dns.clean({"hostname": "localhost", "family": "ipv4"}), 2)
    assert ok.status == "ok" and "127.0.0.1" in ok.details["addresses"]
    wrong = dns.run(
        dns.clean({"hostname": "localhost", "family": "ipv4", "expected": ["10.9.9.9"]}), 2
    )
    assert wrong.status == "critical" and "not 10.9.9.9" in wrong.summary


# -- postgres --------------------------------------------------------------------------------
PG_DSN = (
    os.environ["DATABASE_URL"]
    if os.environ.get("DATABASE_URL", "").startswith("postgres")
    else "postgres://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture
def pg_env(monkeypatch):
    try:
        psycopg.connect(PG_DSN, connect_timeout=2).close()
    except psycopg.OperationalError:
        pytest.skip("no PostgreSQL on 127.0.0.1:5432 (CI always has one)")
    monkeypatch.setenv("PROBE_TEST_DSN", PG_DSN)
    return "PROBE_TEST_DSN"


def test_postgres_reports_a_session_idle_in_transaction_by_pid(pg_env):
    postgres = CHECKERS["postgres"]
    config = postgres.clean(
        {
            "dsn_env": pg_env,
            "idle_in_transaction_seconds": 0.3,
            "connections_warn": 1000,
            "connections_crit": 2000,
        }
    )
    assert postgres.run(config, 5).details["idle_in_transaction"] == []
    with psycopg.connect(PG_DSN) as idle:
        idle.execute("SELECT 1")  # opens the transaction and leaves it open
        pid = idle.info.backend_pid
        import time

        time.sleep(0.5)
        result = postgres.run(config, 5)
    assert result.status == "warning"
    offenders = result.details["idle_in_transaction"]
    assert [o["pid"] for o in offenders] == [pid]
    assert offenders[0]["query"] == "SELECT 1" and offenders[0]["seconds"] >= 0.3
    assert f"pid {pid}" in result.summary


def test_postgres_connection_thresholds_flip_the_status(pg_env):
    postgres = CHECKERS["postgres"]
    ok = postgres.run(
        postgres.clean({"dsn_env": pg_env, "connections_warn": 1000, "connections_crit": 2000}), 5
    )
    assert ok.status == "ok" and ok.details["max_connections"] > 0
    in_use = ok.details["connections"]
    warn = postgres.run(
        postgres.clean({"dsn_env": pg_env, "connections_warn": 1, "connections_crit": 2000}), 5
    )
    assert warn.status == "warning" and "connections (normal below 1)" in warn.summary
    crit = postgres.run(
        postgres.clean({"dsn_env": pg_env, "connections_warn": 1, "connections_crit": 1}), 5
    )
    assert crit.status == "critical" and in_use >= 1


def test_postgres_secrets_stay_in_the_environment(monkeypatch):
    postgres = CHECKERS["postgres"]
    with pytest.raises(ValidationError):
        postgres.clean({"dsn_env": "postgres://user:secret@db/x"})
    monkeypatch.delenv("NO_SUCH_DSN", raising=False)
    missing = postgres.run(postgres.clean({"dsn_env": "NO_SUCH_DSN"}), 1)
    assert missing.status == "error" and "NO_SUCH_DSN is not set" in missing.summary
    monkeypatch.setenv("BAD_DSN", f"postgres://postgres:hunter2@127.0.0.1:{free_port()}/x")
    down = postgres.run(postgres.clean({"dsn_env": "BAD_DSN"}), 1)
    assert down.status == "critical"
    assert "hunter2" not in down.summary and "•••" in down.summary


# -- redis -----------------------------------------------------------------------------------
def test_redis_ping_memory_and_counters(monkeypatch):
    redis_checker = CHECKERS["redis"]
    with redis_server("--maxmemory", "100mb") as url:
        monkeypatch.setenv("PROBE_TEST_REDIS", url)
        config = redis_checker.clean({"url_env": "PROBE_TEST_REDIS"})
        ok = redis_checker.run(config, 2)
        assert ok.status == "ok" and ok.summary.startswith("PONG in")
        assert ok.details["maxmemory"] == 100 * 1024 * 1024
        tight = redis_checker.run(
            redis_checker.clean({"url_env": "PROBE_TEST_REDIS", "memory_warn_pct": 0.0001}), 2
        )
        assert tight.status == "warning" and "memory" in tight.summary
        # Counters are compared with the previous result.
        worse = redis_checker.run(config, 2, previous={"evicted_keys": -3})
        assert worse.status == "warning" and worse.details["evicted_keys_new"] == 3
    gone = redis_checker.run(config, 1)
    assert gone.status == "critical"


# -- stripe ----------------------------------------------------------------------------------
def charge(status: str) -> dict:
    return {"id": f"ch_{status}", "object": "charge", "status": status}


def test_stripe_endpoints_pending_webhooks_and_success_rate(monkeypatch):
    stripe_checker = CHECKERS["stripe"]
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_console")
    endpoints = [
        {"id": "we_1", "object": "webhook_endpoint", "url": "https://a/hooks", "status": "enabled"},
        {
            "id": "we_2",
            "object": "webhook_endpoint",
            "url": "https://b/hooks",
            "status": "disabled",
        },
    ]
    events = [
        {"id": "evt_1", "object": "event", "type": "charge.failed", "pending_webhooks": 2},
        {"id": "evt_2", "object": "event", "type": "charge.succeeded", "pending_webhooks": 0},
    ]
    healthy = [charge("succeeded")] * 19 + [charge("failed")]
    failing = [charge("succeeded")] * 8 + [charge("failed")] * 4
    with http_server(stripe_routes(endpoints[:1], events[1:], healthy)) as (base, recorder):
        ok = stripe_checker.run(stripe_checker.clean({"api_base": base}), 3)
        assert ok.status == "ok", ok.summary
        assert ok.details["success_rate"] == 95.0
        assert "/v1/charges" in recorder.paths
        assert "created[gte]" in recorder.queries[-1]
    with http_server(stripe_routes(endpoints, events, failing)) as (base, _):
        bad = stripe_checker.run(stripe_checker.clean({"api_base": base}), 3)
    assert bad.status == "critical"
    assert "1 webhook endpoint(s) not enabled" in bad.summary
    assert "1 event(s) with pending webhooks" in bad.summary
    assert "payment success 66.7% (alert below 90%)" in bad.summary
    assert bad.details["disabled_endpoints"][0]["id"] == "we_2"
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_wrong")
    with http_server(stripe_routes(endpoints, events, healthy)) as (base, _):
        refused = stripe_checker.run(stripe_checker.clean({"api_base": base}), 3)
    assert refused.status == "error" and "refused the API key" in refused.summary
    unreachable = stripe_checker.run(
        stripe_checker.clean({"api_base": f"http://127.0.0.1:{free_port()}"}), 1
    )
    assert unreachable.status in ("critical", "error")


@pytest.mark.django_db(transaction=True)
def test_celery_worker_ping_and_queue_depth():
    from celery.contrib.testing.worker import start_worker

    from console.celery import app

    config = celery_queue.clean({"min_workers": 1, "depth_warn": 1, "depth_crit": 100})
    app.control.purge()
    alone = celery_queue.run(config, 1.5)
    assert alone.status == "critical" and "0 worker(s) answered, expected 1" in alone.summary
    assert alone.details["depth"] == 0
    with start_worker(
        app, pool="solo", concurrency=1, perform_ping_check=False, hostname="pinged@test"
    ):
        # A worker answers broadcasts once its consumer is up, shortly after it starts.
        answers = []
        assert wait_for(
            lambda: answers.append(celery_queue.run(config, 2)) or answers[-1].status == "ok",
            20,
        ), answers[-1].summary
        answered = answers[-1]
    assert answered.status == "ok", answered.summary
    assert "pinged@test" in answered.details["workers"]
    # `limit`: the ping returns when the one reply needed is in, not after the whole window.
    assert answered.latency_ms < 4_000
    # Tasks published with no worker running sit in the queue and count.
    from probes.tasks import prune_results

    for _ in range(2):
        prune_results.delay()
    queued = celery_queue.run(config, 1)
    assert queued.details["depth"] == 2 and queued.status == "critical"
    assert "2 tasks queued" in queued.summary
    app.control.purge()
