"""Celery side of the probes: the dispatcher beat calls every few seconds, and the runners."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from console.queue import enqueue
from probes import engine, pings
from probes.models import Probe, ProbeResult


@shared_task(ignore_result=True)
def dispatch() -> int:
    """Claim the due probes and hand them out: HTTP ones in one batch per worker process
    (each batch runs concurrently on one AsyncClient), the others one task each."""
    probes = engine.claim_due()
    engine.beat("dispatcher", claimed=len(probes))
    http = [p.pk for p in probes if p.kind == Probe.Kind.HTTP]
    batches = max(1, settings.PROBE_HTTP_BATCHES)
    for index in range(min(batches, len(http))):
        enqueue(run_http_batch, http[index::batches])
    # Heartbeats run nothing: judging their pings is a row read, done here in the sweep.
    pings.sweep([p for p in probes if p.kind == Probe.Kind.HEARTBEAT])
    for probe in probes:
        if probe.kind not in (Probe.Kind.HTTP, Probe.Kind.HEARTBEAT):
            enqueue(run_probe, probe.pk)
    return len(probes)


@shared_task(ignore_result=True)
def run_probe(probe_id: int, source: str = ProbeResult.Source.SCHEDULE) -> str | None:
    probe = Probe.objects.filter(pk=probe_id).first()
    if probe is None:
        return None
    result = engine.run_checker(probe, engine.previous_details(probe))
    engine.record_result(probe, result, source)
    return result.status


@shared_task(ignore_result=True)
def run_http_batch(probe_ids: list[int]) -> int:
    probes = list(Probe.objects.filter(pk__in=probe_ids, kind=Probe.Kind.HTTP))
    results = engine.run_http_batch(probes)
    engine.record_results([(probe, results[probe.pk]) for probe in probes])
    return len(probes)


@shared_task(ignore_result=True)
def prune_results() -> int:
    return engine.prune_results()


@shared_task(ignore_result=True)
def run_check_request(request_id: int) -> str | None:
    """A check someone asked for (Run now / Run check); see probes.ondemand."""
    from probes.ondemand import complete_request

    result = complete_request(request_id)
    return result.status if result else None
