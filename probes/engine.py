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
    if probe.kind == Probe.Kind.HEARTBEAT:
        from probes.pings import check_now

        return check_now(probe)
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
    [stored] = record_results([(probe, result)], source)
    probe.refresh_from_db()
    return stored


STATE_FIELDS = [
    "state",
    "consecutive_failures",
    "last_checked_at",
    "last_summary",
    "last_latency_ms",
]
UPDATE_CHUNK = 500


def update_states(probes: list[Probe]) -> None:
    """Write the probes' state columns in one UPDATE … FROM (VALUES …) per 500 probes.

    Django's bulk_update builds a CASE per field and row in Python, over a second per 1,000
    probes; this is the same change as plain SQL (SQLite 3.33+ and PostgreSQL both name the
    VALUES columns column1…columnN). PostgreSQL needs the types spelled out for NULLs.
    """
    table = connection.ops.quote_name(Probe._meta.db_table)
    pg = connection.vendor == "postgresql"
    row = (
        "(%s::bigint, %s::varchar, %s::integer, %s::timestamptz, %s::varchar, %s::float8)"
        if pg
        else "(%s, %s, %s, %s, %s, %s)"
    )
    assignments = ", ".join(
        f"{connection.ops.quote_name(Probe._meta.get_field(name).column)} = v.column{index}"
        for index, name in enumerate(STATE_FIELDS, start=2)
    )
    at_field = Probe._meta.get_field("last_checked_at")
    with connection.cursor() as cursor:
        for start in range(0, len(probes), UPDATE_CHUNK):
            chunk = probes[start : start + UPDATE_CHUNK]
            params: list = []
            for probe in chunk:
                params += [
                    probe.pk,
                    probe.state,
                    probe.consecutive_failures,
                    at_field.get_db_prep_value(probe.last_checked_at, connection),
                    probe.last_summary,
                    probe.last_latency_ms,
                ]
            values = ", ".join([row] * len(chunk))
            cursor.execute(
                f"UPDATE {table} SET {assignments} FROM (VALUES {values}) AS v "
                f"WHERE {table}.id = v.column1",
                params,
            )


def record_results(
    outcomes: list[tuple[Probe, CheckResult]], source: str = ProbeResult.Source.SCHEDULE
) -> list[ProbeResult]:
    """Store a batch of results in one transaction and a constant number of queries: lock the
    probes (in id order, so two batches never deadlock), insert the results and the state
    flips, update the probes' state; then open, join or recover incidents for the few probes
    whose streak crossed a threshold or that came back."""
    from probes.incidents import on_failure_streak, on_recovery

    if not outcomes:
        return []
    now = timezone.now()
    with transaction.atomic():
        locked = {
            p.pk: p
            for p in Probe.objects.select_for_update()
            .filter(pk__in=[probe.pk for probe, _ in outcomes])
            .order_by("pk")
        }
        outcomes = [(locked[probe.pk], result) for probe, result in outcomes if probe.pk in locked]
        stored = ProbeResult.objects.bulk_create(
            ProbeResult(
                probe=probe,
                checked_at=now,
                status=result.status,
                latency_ms=result.latency_ms,
                summary=result.summary[:300],
                details=result.details,
                source=source,
            )
            for probe, result in outcomes
        )
        flips, streaks, recoveries = [], [], []
        for (probe, result), row in zip(outcomes, stored, strict=True):
            before = probe.state
            probe.consecutive_failures = probe.consecutive_failures + 1 if result.failing else 0
            if result.status != before:
                flips.append(
                    ProbeFlip(
                        probe=probe, at=now, from_state=before, to_state=result.status, result=row
                    )
                )
            probe.state = result.status
            probe.last_checked_at = now
            probe.last_summary = result.summary[:300]
            probe.last_latency_ms = result.latency_ms
            if result.failing and probe.consecutive_failures >= probe.failures_to_open:
                streaks.append((probe, row))
            elif not result.failing and before in (Probe.State.CRITICAL, Probe.State.ERROR):
                recoveries.append((probe, row))
        ProbeFlip.objects.bulk_create(flips)
        update_states([probe for probe, _ in outcomes])
        for probe, row in streaks:
            on_failure_streak(probe, row)
        for probe, row in recoveries:
            on_recovery(probe, row)
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
