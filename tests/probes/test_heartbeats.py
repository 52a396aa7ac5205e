"""Heartbeats: healthchecks.io's ping API, the sweep that notices silence, one incident per
outage and its recovery, cron schedules with a time zone, and the create_heartbeat command."""

from __future__ import annotations

import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client

from incidents.models import Incident, TimelineEvent
from probes import pings, tasks
from probes.checkers import heartbeat as rules
from probes.models import Probe, ProbeResult
from runbooks.importer import import_runbook

Kind = TimelineEvent.Kind
ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def create(*args: str) -> tuple[Probe, str]:
    out = StringIO()
    call_command("create_heartbeat", *args, stdout=out)
    path = out.getvalue().strip().splitlines()[-1]
    return Probe.objects.get(ping_key=uuid.UUID(path.removeprefix("/ping/"))), path


def sweep_at(moment: datetime) -> None:
    with time_machine.travel(moment, tick=False):
        tasks.dispatch()


def ping_at(moment: datetime, path: str, method: str = "get", **kwargs):
    with time_machine.travel(moment, tick=False):
        return getattr(Client(), method)(path, **kwargs)


def test_create_heartbeat_prints_the_ping_path_last(db, service):
    probe, path = create(
        "nightly-backup",
        "--period",
        "3600",
        "--grace",
        "300",
        "--service",
        service.name,
        "--severity",
        "P1",
    )
    assert path == f"/ping/{probe.ping_key}"
    assert probe.kind == "heartbeat" and probe.config == {"period": 3600, "grace": 300}
    assert probe.service == service and probe.incident_severity == "P1"
    assert probe.failures_to_open == 1 and probe.expectation == "every 1 h + 5 min grace"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["x", "--period", "2"], "period"),
        (["x", "--cron", "61 * * * *"], "schedule"),
        (["x", "--cron", "0 3 * * *", "--tz", "Mars/Olympus"], "Unknown time zone"),
        (["x", "--period", "60", "--service", "Nope"], "no service"),
        (["x", "--period", "60", "--grace", "-1"], "grace"),
    ],
)
def test_create_heartbeat_refuses_bad_arguments(db, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_heartbeat", *args, stdout=StringIO())
    assert not Probe.objects.exists()


def test_config_needs_a_period_or_a_schedule():
    with pytest.raises(ValidationError, match="either a period"):
        rules.clean({"grace": 10})
    with pytest.raises(ValidationError, match="either a period"):
        rules.clean({"period": 60, "schedule": "* * * * *"})
    assert rules.clean({"schedule": "0 3 * * *", "tz": "Europe/Paris"})["grace"] == 0


def test_ping_api_answers_as_healthchecks(db):
    probe, path = create("job", "--period", "60")
    client = Client()
    for method in ("get", "post", "head"):
        response = getattr(client, method)(path)
        assert response.status_code == 200, method
        assert response["Content-Type"].startswith("text/plain")
    assert client.get(path).content == b"OK"
    assert client.get(path + "/").status_code == 200
    assert client.get(f"/ping/{uuid.uuid4()}").content == b"not found"
    assert client.get(f"/ping/{uuid.uuid4()}").status_code == 404
    assert client.get(path + "/256").status_code == 400
    assert client.get(path + "/256").content == b"invalid url format"
    assert client.get(path + "/reboot").status_code == 400
    assert client.get("/ping/not-a-uuid").status_code == 404
    response = client.put(path)
    assert response.status_code == 405 and "POST" in response["Allow"]
    assert client.delete(path).status_code == 405
    # No CSRF token: cron wrappers POST bodies (the job's output), kept with the ping.
    client = Client(enforce_csrf_checks=True)
    assert (
        client.post(path, data=b"backup done: 42 GB", content_type="text/plain").status_code == 200
    )
    latest = ProbeResult.objects.filter(probe=probe).first()
    assert latest.source == "ping" and latest.details["body"] == "backup done: 42 GB"
    assert latest.details["method"] == "POST"
    assert ProbeResult.objects.filter(probe=probe).count() == 6
    probe.refresh_from_db()
    assert probe.state == "ok" and probe.last_ping_at is not None


def test_start_then_success_measures_the_run(db):
    probe, path = create("job", "--period", "3600", "--grace", "600")
    ping_at(T0, path + "/start")
    probe.refresh_from_db()
    assert probe.last_start_at == T0 and not ProbeResult.objects.exists()
    assert probe.next_run_at == T0 + timedelta(seconds=600)  # a run that never ends is late
    ping_at(T0 + timedelta(seconds=95), path + "/0")
    probe.refresh_from_db()
    assert probe.last_run_seconds == 95 and probe.state == "ok"
    result = ProbeResult.objects.get()
    assert result.latency_ms == 95_000 and "95 s run" in result.summary
    assert probe.next_run_at == T0 + timedelta(seconds=95 + 3600 + 600)


def test_silence_opens_one_incident_with_the_scenario_and_a_ping_records_recovery(db):
    sample = ROOT / "runbooks" / "samples" / "console-sample.md"
    version = import_runbook(sample.read_text(), filename=sample.name).version
    scenario = version.scenarios.filter(kind="scenario").first()
    probe, path = create(
        "nightly-backup", "--period", "600", "--grace", "120", "--scenario", scenario.title
    )
    # A heartbeat that never pinged is new, not late.
    sweep_at(T0 + timedelta(hours=5))
    assert not Incident.objects.exists()

    ping_at(T0, path)
    sweep_at(T0 + timedelta(seconds=700))  # inside period + grace
    assert not Incident.objects.exists()
    probe.refresh_from_db()
    assert probe.state == "ok" and probe.next_run_at == T0 + timedelta(seconds=720)

    sweep_at(T0 + timedelta(seconds=721))
    incident = Incident.objects.get()
    assert incident.dedup_key == f"probe:{probe.pk}" and incident.is_open
    assert incident.title.startswith("nightly-backup: No ping for 12 min")
    assert incident.checklist_runs.get().scenario == scenario
    # Still silent at the next sweeps: the same incident, no second one.
    sweep_at(T0 + timedelta(seconds=790))
    sweep_at(T0 + timedelta(seconds=860))
    assert Incident.objects.count() == 1
    probe.refresh_from_db()
    assert probe.consecutive_failures == 3 and probe.state == "critical"

    ping_at(T0 + timedelta(seconds=900), path)
    probe.refresh_from_db()
    assert probe.state == "ok" and probe.consecutive_failures == 0
    recovered = incident.events.get(kind=Kind.PROBE_RECOVERED)
    assert recovered.text == "nightly-backup recovered: Ping received"
    assert incident.events.filter(kind=Kind.PROBE_FAILED).count() == 1
    sweep_at(T0 + timedelta(seconds=1000))
    assert Incident.objects.count() == 1 and probe.results.count() == 5


def test_fail_and_nonzero_exit_status_open_the_incident_at_once(db):
    probe, path = create("deploy-check", "--period", "3600")
    assert ping_at(T0, path + "/fail").status_code == 200
    incident = Incident.objects.get()
    assert "Job reported failure (/fail)" in incident.title
    ping_at(T0 + timedelta(seconds=10), path + "/0")
    ping_at(T0 + timedelta(seconds=20), path + "/3")
    assert Incident.objects.count() == 1
    failed = incident.events.filter(kind=Kind.PROBE_FAILED).order_by("pk")
    assert [e.text for e in failed][-1].endswith("Job reported failure (exit status 3)")


def test_a_run_that_started_and_never_finished_is_late(db):
    probe, path = create("etl", "--period", "86400", "--grace", "900")
    ping_at(T0, path)
    ping_at(T0 + timedelta(hours=1), path + "/start")
    sweep_at(T0 + timedelta(hours=1, seconds=901))
    incident = Incident.objects.get()
    assert "Run started 15 min ago and has not finished" in incident.title


def test_cron_schedule_is_read_in_its_time_zone():
    config = rules.clean({"schedule": "0 3 * * *", "tz": "Europe/Paris", "grace": 3600})
    paris = ZoneInfo("Europe/Paris")
    # 03:00 Paris is 01:00 UTC on the last day of winter time and 01:00 UTC + 1 h after.
    after = datetime(2026, 3, 28, 3, 5, tzinfo=paris)
    assert rules.next_expected(config, after) == datetime(2026, 3, 29, 3, 0, tzinfo=paris)
    assert rules.next_expected(config, after).astimezone(UTC).hour == 1
    after = datetime(2026, 3, 29, 3, 5, tzinfo=paris)
    assert rules.next_expected(config, after).astimezone(UTC).hour == 1  # 03:00 CEST = 01:00 UTC

    class Pinged:
        last_ping_at = datetime(2026, 3, 28, 3, 5, tzinfo=paris)
        last_start_at = None

    assert rules.deadline(Pinged, config) == datetime(2026, 3, 29, 4, 0, tzinfo=paris)


def test_cron_heartbeat_opens_after_its_slot_plus_grace(db):
    probe, path = create("backup", "--cron", "0 3 * * *", "--tz", "Europe/Paris", "--grace", "1800")
    assert probe.expectation == "on '0 3 * * *' (Europe/Paris) + 30 min grace"
    first = datetime(2026, 6, 1, 1, 0, 30, tzinfo=UTC)  # 03:00:30 CEST
    ping_at(first, path)
    sweep_at(first + timedelta(days=1))  # 03:00:30 next day: within grace
    assert not Incident.objects.exists()
    sweep_at(datetime(2026, 6, 2, 1, 30, 1, tzinfo=UTC))
    assert Incident.objects.get().title.startswith("backup: No ping for 24.5 h")


@pytest.mark.django_db(transaction=True)
def test_run_now_on_a_heartbeat_judges_its_pings(lead_client, dead_broker):
    probe, path = create("job", "--period", "60")
    response = lead_client.post(f"/probes/{probe.pk}/run/")
    assert response.status_code == 302
    assert ProbeResult.objects.get().summary.startswith("Waiting for the first ping")
    Client().get(path)
    lead_client.post(f"/probes/{probe.pk}/run/")
    assert "ago; the next is due by" in ProbeResult.objects.first().summary


def test_dashboard_and_page_show_last_ping_and_run_duration(db, responder_client):
    probe, path = create("nightly-backup", "--period", "86400", "--grace", "3600")
    client = Client()
    client.get(path + "/start")
    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=75), tick=False):
        client.get(path)
    page = responder_client.get("/probes/").content.decode()
    assert "last ping" in page and "run 1m" in page
    assert "ping every 1 d + 1 h grace" in page
    detail = responder_client.get(f"/probes/{probe.pk}/").content.decode()
    assert f"http://testserver/ping/{probe.ping_key}" in detail
    assert "(start → success)" in detail


@pytest.mark.django_db(transaction=True)
def test_a_real_cron_wrapper_pings_over_http(live_server):
    """The healthchecks.io wrapper line, unchanged but for the host."""
    probe, path = create("cron-job", "--period", "60")
    url = live_server.url + path
    command = (
        f"curl -fsS -m 10 --retry 3 {url}/start && sleep 0.2 && curl -fsS -m 10 --retry 3 {url}"
    )
    completed = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "OKOK"
    probe.refresh_from_db()
    assert probe.state == "ok" and 0.2 <= probe.last_run_seconds < 30
    failing = subprocess.run(
        [
            "curl",
            "-sS",
            "-m",
            "10",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            f"{live_server.url}/ping/{uuid.uuid4()}",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert failing.stdout == "404"


def test_sweep_ignores_a_heartbeat_pinged_since_the_claim(db):
    probe, path = create("job", "--period", "60")
    ping_at(T0, path)
    with time_machine.travel(T0 + timedelta(seconds=61), tick=False):
        [claimed] = list(Probe.objects.filter(pk=probe.pk))
        Client().get(path)  # lands between claim and judgement
        assert pings.sweep([claimed]) == 0
    assert not Incident.objects.exists()


def test_a_heartbeat_made_in_the_admin_gets_its_ping_key(db, client):
    from django.contrib.auth.models import User

    admin = User.objects.create_superuser("root", "root@example.org", "pw")
    client.force_login(admin)
    response = client.post(
        "/admin/probes/probe/add/",
        {
            "name": "weekly-report", "kind": "heartbeat", "config": '{"period": 604800}',
            "interval": "00:01:00", "timeout": "00:00:01", "enabled": "on",
            "failures_to_open": "1", "incident_severity": "P3",
        },
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    probe = Probe.objects.get(name="weekly-report")
    assert probe.ping_key is not None and probe.config == {"period": 604800, "grace": 0}
    assert Client().get(probe.ping_path).status_code == 200
    page = client.get(f"/admin/probes/probe/{probe.pk}/change/").content.decode()
    assert str(probe.ping_key) in page
