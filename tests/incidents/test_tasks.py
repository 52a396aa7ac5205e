"""Acknowledgement-target timers, run by a real Celery worker on the configured broker."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from console.celery import app
from incidents import actions
from incidents.models import TimelineEvent
from incidents.tasks import schedule_ack_check, sweep_ack_targets
from tests.waiting import wait_for

Kind = TimelineEvent.Kind


@pytest.fixture
def celery_worker(transactional_db):
    # A real worker thread consuming from the real broker (Redis in CI, files on a laptop).
    app.control.purge()
    with start_worker(
        app, pool="solo", concurrency=1, perform_ping_check=False, shutdown_timeout=10
    ):
        yield


def test_worker_records_a_breach_when_the_timer_fires(celery_worker, responder):
    incident = actions.declare_incident(
        title="Nobody answered",
        severity="P0",
        declared_by=responder,
        at=timezone.now() - timedelta(minutes=16),
    )
    assert schedule_ack_check(incident) is True
    assert wait_for(lambda: incident.events.filter(kind=Kind.ACK_TARGET_BREACHED).exists())
    incident.refresh_from_db()
    assert incident.ack_breach_recorded_at is not None
    # A duplicate delivery changes nothing.
    assert schedule_ack_check(incident) is True
    time.sleep(1)
    assert incident.events.filter(kind=Kind.ACK_TARGET_BREACHED).count() == 1


def test_worker_leaves_an_acknowledged_incident_alone(celery_worker, responder):
    incident = actions.declare_incident(
        title="Answered",
        severity="P0",
        declared_by=responder,
        at=timezone.now() - timedelta(minutes=16),
    )
    actions.acknowledge(incident, by=responder)
    schedule_ack_check(incident)
    # A later task on the same queue proves the first one was consumed.
    other = actions.declare_incident(
        title="Marker",
        severity="P0",
        declared_by=responder,
        at=timezone.now() - timedelta(minutes=16),
    )
    schedule_ack_check(other)
    assert wait_for(lambda: other.events.filter(kind=Kind.ACK_TARGET_BREACHED).exists())
    assert not incident.events.filter(kind=Kind.ACK_TARGET_BREACHED).exists()


def test_sweep_catches_deadlines_whose_timer_was_never_queued(responder, lead):
    late = actions.declare_incident(
        title="Late", severity="P1", declared_by=responder, at=timezone.now() - timedelta(hours=2)
    )
    acked = actions.declare_incident(
        title="Acked", severity="P1", declared_by=responder, at=timezone.now() - timedelta(hours=2)
    )
    actions.acknowledge(acked, by=responder)
    resolved = actions.declare_incident(
        title="Done", severity="P1", declared_by=responder, at=timezone.now() - timedelta(hours=2)
    )
    actions.change_status(resolved, to="resolved", by=lead)
    actions.declare_incident(title="Fresh", severity="P1", declared_by=responder)
    assert sweep_ack_targets() == 1
    assert sweep_ack_targets() == 0
    assert late.events.filter(kind=Kind.ACK_TARGET_BREACHED).count() == 1
