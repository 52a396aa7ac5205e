"""/api/v1/probes: the probes, their results, and "Run now" (through a worker, or in the
request when the broker is down, exactly as the probe page does)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Path, Query, Router, Schema, Status

from console.api_kit import READ, WRITE, decode_cursor, page_of
from incidents.api.schemas import iso_time
from incidents.permissions import require_perm
from probes import ondemand
from probes.models import CheckRequest, Probe, ProbeResult
from probes.views import get_probe_for_user

router = Router(tags=["probes"])
MAX_ID = 2**63 - 1
ProbeId = Annotated[int, Path(ge=1, le=MAX_ID, description="The probe's id")]


class ProbeOut(Schema):
    id: int
    name: str
    kind: str
    service: str | None
    enabled: bool
    state: str = Field(description="unknown, ok, warning, critical or error")
    consecutive_failures: int
    last_checked_at: datetime | None
    last_summary: str
    last_latency_ms: float | None
    interval_seconds: int
    open_incident_id: int | None


class ResultOut(Schema):
    id: int
    checked_at: datetime
    status: str
    latency_ms: float | None
    summary: str
    details: dict[str, Any]
    source: str


class ProbePage(Schema):
    items: list[ProbeOut]
    next_cursor: str | None


class ResultPage(Schema):
    items: list[ResultOut]
    next_cursor: str | None


class CheckOut(Schema):
    id: int
    probe_id: int
    requested_at: datetime
    inline: bool = Field(description="True: the broker was down and it ran in the request")
    pending: bool
    result: ResultOut | None


def probe_data(probe: Probe) -> dict:
    return {
        "id": probe.pk,
        "name": probe.name,
        "kind": probe.kind,
        "service": probe.service.name if probe.service_id else None,
        "enabled": probe.enabled,
        "state": probe.state,
        "consecutive_failures": probe.consecutive_failures,
        "last_checked_at": iso_time(probe.last_checked_at),
        "last_summary": probe.last_summary,
        "last_latency_ms": probe.last_latency_ms,
        "interval_seconds": int(probe.interval.total_seconds()),
        "open_incident_id": probe.open_incident_id,
    }


def result_data(result: ProbeResult) -> dict:
    return {
        "id": result.pk,
        "checked_at": iso_time(result.checked_at),
        "status": result.status,
        "latency_ms": result.latency_ms,
        "summary": result.summary,
        "details": result.details,
        "source": result.source,
    }


def check_data(check: CheckRequest) -> dict:
    return {
        "id": check.pk,
        "probe_id": check.probe_id,
        "requested_at": iso_time(check.requested_at),
        "inline": check.inline,
        "pending": check.pending,
        "result": result_data(check.result) if check.result_id else None,
    }


@router.get("", response={200: ProbePage, **READ}, summary="List probes")
def list_probes(
    request: HttpRequest,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
):
    require_perm(request, "probes.view_probe")
    probes = Probe.objects.select_related("service").order_by("id")
    after = decode_cursor(cursor)
    if after is not None:
        probes = probes.filter(id__gt=after)
    items, next_cursor = page_of(list(probes[: limit + 1]), limit)
    return {"items": [probe_data(p) for p in items], "next_cursor": next_cursor}


@router.get("/{probe_id}", response={200: ProbeOut, **READ}, summary="Get a probe")
def get_probe(request: HttpRequest, probe_id: ProbeId):
    return probe_data(get_probe_for_user(request, probe_id))


@router.get("/{probe_id}/results", response={200: ResultPage, **READ}, summary="Results")
def probe_results(
    request: HttpRequest,
    probe_id: ProbeId,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
):
    """Newest first."""
    probe = get_probe_for_user(request, probe_id)
    results = ProbeResult.objects.filter(probe=probe).order_by("-id")
    after = decode_cursor(cursor)
    if after is not None:
        results = results.filter(id__lt=after)
    items, next_cursor = page_of(list(results[: limit + 1]), limit)
    return {"items": [result_data(r) for r in items], "next_cursor": next_cursor}


@router.post("/{probe_id}/run", response={202: CheckOut, **WRITE}, summary="Run now")
def run_probe(request: HttpRequest, probe_id: ProbeId):
    """202 with the check request; poll `GET /probes/{id}/runs/{run_id}` until `pending` is
    false. With the task queue down the check runs in the request (`inline: true`)."""
    probe = get_probe_for_user(request, probe_id, "probes.run_probe")
    check = ondemand.request_run(probe, by=request.user)
    return Status(202, check_data(check))


@router.get(
    "/{probe_id}/runs/{run_id}", response={200: CheckOut, **READ}, summary="A requested run"
)
def probe_run(
    request: HttpRequest,
    probe_id: ProbeId,
    run_id: Annotated[int, Path(ge=1, le=MAX_ID)],
):
    probe = get_probe_for_user(request, probe_id)
    check = get_object_or_404(CheckRequest.objects.select_related("result"), pk=run_id, probe=probe)
    return check_data(check)
