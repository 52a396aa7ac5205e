"""Running probes: claiming the due ones, running them, recording results and state flips.

Claiming works the same on every backend: candidates are picked (on PostgreSQL with
`FOR UPDATE SKIP LOCKED`, so two dispatchers never wait on each other), then one conditional
UPDATE stamps them with this dispatcher's token and moves their next run; only the rows that
carry the token afterwards are ours. A row another dispatcher claimed in between no longer
matches `next_run_at <= now` and is left alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from probes.checkers import CHECKERS, CheckResult
from probes.checkers import http as http_checker
from probes.models import Heartbeat, Probe, ProbeFlip, ProbeResult


def claim_due(now: datetime | None = None, limit: int = 10_000) -> list[Probe]:
    now = now or timezone.now()
    token = uuid.uuid4().hex
    with transaction.atomic():
        due = Probe.objects.filter(enabled=True, next_run_at__lte=now).order_by("next_run_at")
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        ids = list(due.values_list("pk", flat=True)[:limit])
        if not ids:
            return []
        Probe.objects.filter(pk__in=ids, next_run_at__lte=now).update(
            next_run_at=now + F("interval"), claim_token=token
        )
    return list(Probe.objects.filter(claim_token=token, pk__in=ids))


def run_checker(probe: Probe, previous: dict | None = None) -> CheckResult:
    """Run one probe's check; a checker that raises becomes an error result, not a crash."""
    checker = CHECKERS[probe.kind]
    try:
        return checker.run(probe.config, probe.timeout.total_seconds(), previous)
    except Exception as exc:  # noqa: BLE001 - a broken probe must not stop the others
        return CheckResult("error", f"{type(exc).__name__}: {exc}"[:300])


def run_http_batch(probes: Iterable[Probe]) -> dict[int, CheckResult]:
    probes = list(probes)
    return http_checker.run_many(
        (probe.pk, probe.config, probe.timeout.total_seconds()) for probe in probes
    )


def previous_details(probe: Probe) -> dict | None:
    return (
        ProbeResult.objects.filter(probe=probe)
        .order_by("-checked_at", "-id")
        .values_list("details", flat=True)
        .first()
    )


def record_result(
    probe: Probe, result: CheckResult, source: str = ProbeResult.Source.SCHEDULE
) -> ProbeResult:
    """Store the result, flip the state if it changed, and open or update the incident."""
    from probes.incidents import on_failure_streak, on_recovery

    now = timezone.now()
    with transaction.atomic():
        locked = Probe.objects.select_for_update().get(pk=probe.pk)
        stored = ProbeResult.objects.create(
            probe=locked,
            checked_at=now,
            status=result.status,
            latency_ms=result.latency_ms,
            summary=result.summary[:300],
            details=result.details,
            source=source,
        )
        before = locked.state
        locked.consecutive_failures = locked.consecutive_failures + 1 if result.failing else 0
        if result.status != before:
            ProbeFlip.objects.create(
                probe=locked, at=now, from_state=before, to_state=result.status, result=stored
            )
        locked.state = result.status
        locked.last_checked_at = now
        locked.last_summary = result.summary[:300]
        locked.last_latency_ms = result.latency_ms
        locked.save(
            update_fields=[
                "state",
                "consecutive_failures",
                "last_checked_at",
                "last_summary",
                "last_latency_ms",
            ]
        )
        if result.failing and locked.consecutive_failures >= locked.failures_to_open:
            on_failure_streak(locked, stored)
        elif not result.failing and before in (Probe.State.CRITICAL, Probe.State.ERROR):
            on_recovery(locked, stored)
    probe.refresh_from_db()
    return stored


def beat(name: str, **info) -> None:
    Heartbeat.objects.update_or_create(
        name=name, defaults={"beat_at": timezone.now(), "info": info}
    )


def heartbeat_age(name: str = "dispatcher") -> float | None:
    beat_at = Heartbeat.objects.filter(name=name).values_list("beat_at", flat=True).first()
    return (timezone.now() - beat_at).total_seconds() if beat_at else None


def prune_results(days: int | None = None) -> int:
    days = days if days is not None else settings.PROBE_RESULT_RETENTION_DAYS
    cutoff = timezone.now() - timezone.timedelta(days=days)
    deleted, _ = ProbeResult.objects.filter(checked_at__lt=cutoff).delete()
    return deleted
