"""Claiming, recording, flipping and opening incidents; then the whole loop with real workers."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connections
from django.utils import timezone

from console.celery import app
from incidents import actions
from incidents.models import Incident, TimelineEvent
from probes import engine, tasks
from probes.checkers import CheckResult
from probes.models import Heartbeat, Probe, ProbeFlip, ProbeResult
from runbooks.importer import import_runbook
from tests.probes.servers import http_server, json_answer
from tests.waiting import wait_for
from tests.workers import worker_processes

Kind = TimelineEvent.Kind
ROOT = Path(__file__).resolve().parents[2]


def make_probe(name: str = "API health", url: str = "http://127.0.0.1:9/health",
               **fields) -> Probe:
    probe = Probe(name=name, kind="http", config={"url": url}, **fields)
    probe.full_clean()
    probe.save()
    return probe


def fail(summary: str = "HTTP 500, expected 2xx") -> CheckResult:
    return CheckResult("critical", summary, 12.5, {"status_code": 500})


def ok() -> CheckResult:
    return CheckResult("ok", "HTTP 200 in 12 ms", 12.0, {"status_code": 200})


def test_probe_config_is_validated_per_kind(db):
    probe = Probe(name="x", kind="http", config={"url": "not a url"})
    with pytest.raises(Exception, match="config"):
        probe.full_clean()
    probe = Probe(name="y", kind="postgres", config={"dsn_env": "DATABASE_URL"},
                  interval=timedelta(seconds=5))
    with pytest.raises(Exception, match="interval"):
        probe.full_clean()
    probe = Probe(name="z", kind="http", config={"url": "http://a/"},
                  timeout=timedelta(seconds=90))
    with pytest.raises(Exception, match="shorter than the interval"):
        probe.full_clean()


def test_claim_due_takes_each_due_probe_once(db):
    now = timezone.now()
    due = make_probe("due", next_run_at=now - timedelta(seconds=1))
    make_probe("later", next_run_at=now + timedelta(minutes=1))
    make_probe("off", next_run_at=now - timedelta(seconds=1), enabled=False)
    claimed = engine.claim_due(now)
    assert [p.name for p in claimed] == ["due"]
    due.refresh_from_db()
    assert due.next_run_at == now + due.interval
    assert engine.claim_due(now) == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_dispatchers_never_claim_the_same_probe():
    now = timezone.now()
    for n in range(200):
        Probe.objects.create(name=f"p{n}", kind="http", config={"url": "http://a/"},
                             next_run_at=now - timedelta(seconds=1))
    claimed: list[list[int]] = [[], []]

    def dispatcher(index: int) -> None:
        try:
            while batch := engine.claim_due(now, limit=25):
                claimed[index].extend(p.pk for p in batch)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=dispatcher, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    everything = claimed[0] + claimed[1]
    assert sorted(everything) == sorted(Probe.objects.values_list("pk", flat=True))
    assert len(set(everything)) == len(everything) == 200


def test_results_flip_state_and_open_one_incident_after_n_failures(db, service):
    probe = make_probe(failures_to_open=3, incident_severity="P1", service=service)
    engine.record_result(probe, ok())
    assert probe.state == "ok" and ProbeFlip.objects.count() == 1  # unknown → ok
    engine.record_result(probe, fail())
    engine.record_result(probe, fail())
    assert probe.consecutive_failures == 2 and not Incident.objects.exists()
    assert ProbeFlip.objects.count() == 2  # ok → critical, once
    engine.record_result(probe, fail())
    incident = Incident.objects.get()
    assert incident.dedup_key == f"probe:{probe.pk}"
    assert incident.severity == "P1" and list(incident.services.all()) == [service]
    assert incident.title.startswith("API health: HTTP 500")
    assert incident.declared_by.username == actions.SYSTEM_USERNAME
    assert not incident.declared_by.has_usable_password()
    failed = incident.events.get(kind=Kind.PROBE_FAILED)
    assert failed.data["latency_ms"] == 12.5 and "3 times in a row" in failed.text
    probe.refresh_from_db()
    assert probe.open_incident == incident

    # More failures change nothing on the incident; recovery is noted once.
    engine.record_result(probe, fail())
    assert incident.events.count() == 2
    engine.record_result(probe, ok())
    engine.record_result(probe, ok())
    assert incident.events.filter(kind=Kind.PROBE_RECOVERED).count() == 1
    # Failing again while the incident is still open adds to it instead of opening another.
    for _ in range(3):
        engine.record_result(probe, fail())
    assert Incident.objects.count() == 1
    assert incident.events.filter(kind=Kind.PROBE_FAILED).count() == 2
    assert ProbeResult.objects.filter(probe=probe).count() == 10


def test_a_resolved_incident_is_not_reused(db, lead):
    probe = make_probe(failures_to_open=1)
    engine.record_result(probe, fail())
    first = Incident.objects.get()
    actions.change_status(first, to="resolved", by=lead)
    engine.record_result(probe, ok())
    engine.record_result(probe, fail())
    assert Incident.objects.count() == 2
    assert Incident.objects.exclude(pk=first.pk).get().is_open


@pytest.mark.django_db(transaction=True)
def test_concurrent_openers_share_one_incident():
    barrier = threading.Barrier(4)
    opened: list[tuple[int, bool]] = []

    def opener() -> None:
        try:
            barrier.wait(timeout=10)
            incident, created = actions.open_or_join(
                dedup_key="alert:disk-full", title="Disk full", severity="P1")
            opened.append((incident.pk, created))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(opened) == 4
    assert len({pk for pk, _ in opened}) == 1
    assert sum(created for _, created in opened) == 1
    assert Incident.objects.count() == 1


def test_prune_keeps_recent_results(db):
    probe = make_probe()
    old = engine.record_result(probe, ok())
    ProbeResult.objects.filter(pk=old.pk).update(checked_at=timezone.now() - timedelta(days=40))
    engine.record_result(probe, ok())
    assert engine.prune_results(days=30) == 1
    assert ProbeResult.objects.count() == 1


# -- the whole loop ----------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_dispatcher_workers_incident_and_recovery_end_to_end():
    """Beat's dispatcher → two real workers → results → one incident after three failures →
    a recovery event once the endpoint answers again."""
    answers = {"status": 500}

    def health(handler):
        return json_answer(answers["status"], {"status": "x"})(handler)

    app.control.purge()
    with http_server({"/health": health}) as (base, _), \
            worker_processes("worker-a@test", "worker-b@test"):
        sample = ROOT / "runbooks" / "samples" / "console-sample.md"
        version = import_runbook(sample.read_text(), filename=sample.name).version
        scenario = version.scenarios.filter(kind="scenario").first()
        probe = make_probe(url=f"{base}/health", failures_to_open=3, scenario=scenario)
        for round_number in range(1, 4):
            Probe.objects.filter(pk=probe.pk).update(next_run_at=timezone.now())
            assert tasks.dispatch() == 1
            assert wait_for(lambda n=round_number: ProbeResult.objects.count() == n)
        assert wait_for(lambda: Incident.objects.count() == 1)
        incident = Incident.objects.get()
        assert incident.events.filter(kind=Kind.PROBE_FAILED).count() == 1
        # The probe's runbook scenario is attached as a checklist, by the console itself.
        [run] = incident.checklist_runs.all()
        assert run.scenario == scenario and run.attached_by.username == actions.SYSTEM_USERNAME
        assert run.steps.exists()

        answers["status"] = 200
        Probe.objects.filter(pk=probe.pk).update(next_run_at=timezone.now())
        tasks.dispatch()
        assert wait_for(lambda: incident.events.filter(kind=Kind.PROBE_RECOVERED).exists())
    assert Incident.objects.count() == 1
    assert Heartbeat.objects.get(name="dispatcher").info == {"claimed": 1}
    assert engine.heartbeat_age() < 60
