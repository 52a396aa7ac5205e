"""Heartbeat pings, as healthchecks.io's ping API takes them, so existing cron wrappers
(`curl -fsS -m 10 --retry 5 https://console/ping/<uuid>`) only change their host.

    GET|POST|HEAD /ping/<uuid>          success
    …             /ping/<uuid>/start    a run started (its duration is measured to success)
    …             /ping/<uuid>/fail     failure
    …             /ping/<uuid>/<0-255>  exit status: 0 is success, anything else failure

Answers are healthchecks': 200 "OK", 404 "not found", 400 "invalid url format". A ping is a
ProbeResult (source "ping") recorded through the engine, so a failure opens the probe's
incident and a success after one writes its recovery exactly as a checked probe does; the
dispatcher's sweep (`sweep`) notices the ping that never came.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from probes import engine
from probes.checkers import CheckResult
from probes.checkers import heartbeat as rules
from probes.models import Probe, ProbeResult

BODY_LIMIT = 10_000  # bytes of a POSTed body kept with the ping (healthchecks' default)
METHODS = ("GET", "POST", "HEAD")
SUCCESS, START, FAIL = "success", "start", "fail"
PING_FIELDS = ["last_ping_at", "last_start_at", "last_run_seconds", "next_run_at"]


def _text(status: int, body: str) -> HttpResponse:
    response = HttpResponse(body, status=status, content_type="text/plain; charset=utf-8")
    response["Access-Control-Allow-Origin"] = "*"
    return response


def schedule_next(probe: Probe, now: datetime) -> None:
    """The sweep claims a heartbeat when it becomes late; before its first ping, it looks
    again one period later."""
    due = rules.deadline(probe)
    probe.next_run_at = due or now + probe.interval


def receive(key: uuid.UUID, kind: str, *, exit_status: int | None = None, meta: dict) -> bool:
    """Record one ping; False when no heartbeat has this key."""
    with transaction.atomic():
        probe = (
            Probe.objects.select_for_update()
            .filter(ping_key=key, kind=Probe.Kind.HEARTBEAT)
            .first()
        )
        if probe is None:
            return False
        now = timezone.now()
        details = {"ping": kind, "exit_status": exit_status, **meta}
        if kind == START:
            probe.last_start_at = now
            schedule_next(probe, now)
            probe.save(update_fields=PING_FIELDS)
            return True
        started = probe.last_start_at
        running = started is not None and (
            probe.last_ping_at is None or started > probe.last_ping_at
        )
        duration = (now - started).total_seconds() if running else None
        probe.last_ping_at = now
        probe.last_run_seconds = duration if running else probe.last_run_seconds
        if kind == FAIL:
            reason = f"exit status {exit_status}" if exit_status is not None else "/fail"
            result = CheckResult("critical", f"Job reported failure ({reason})", details=details)
        else:
            took = f" after a {rules.span(duration)} run" if duration is not None else ""
            result = CheckResult("ok", f"Ping received{took}", details=details)
        if duration is not None:
            result.latency_ms = round(duration * 1000, 1)
            details["run_seconds"] = round(duration, 3)
        schedule_next(probe, now)
        probe.save(update_fields=PING_FIELDS)
        engine.record_results([(probe, result)], ProbeResult.Source.PING)
    return True


def sweep(probes: list[Probe], now: datetime | None = None) -> int:
    """The dispatcher's part for the heartbeats it claimed: each is judged under its row lock
    (a ping may have landed since the claim); the late ones are recorded as failures, which
    open or join their incident; the others are put back to sleep until their deadline."""
    if not probes:
        return 0
    now = now or timezone.now()
    late = []
    with transaction.atomic():
        locked = Probe.objects.select_for_update().filter(pk__in=[p.pk for p in probes])
        for probe in locked.order_by("pk"):
            result = rules.evaluate(probe, now)
            if result is None:
                schedule_next(probe, now)
                Probe.objects.filter(pk=probe.pk).update(next_run_at=probe.next_run_at)
            else:
                late.append((probe, result))
        engine.record_results(late)
    return len(late)


def check_now(probe: Probe) -> CheckResult:
    """ "Run now" on a heartbeat: what its pings say at this moment."""
    result = rules.evaluate(probe)
    if result is not None:
        return result
    if probe.last_ping_at is None and probe.last_start_at is None:
        return CheckResult("warning", f"Waiting for the first ping on {probe.ping_path}")
    due = rules.deadline(probe)
    return CheckResult(
        "ok",
        f"Last ping {rules.span((timezone.now() - probe.last_ping_at).total_seconds())} ago; "
        f"the next is due by {due:%Y-%m-%d %H:%M:%S %Z}"
        if probe.last_ping_at and due
        else "Run in progress",
    )


@csrf_exempt
def ping(request: HttpRequest, key: uuid.UUID, signal: str = SUCCESS) -> HttpResponse:
    if request.method not in METHODS:
        response = _text(405, "method not allowed")
        response["Allow"] = ", ".join(METHODS)
        return response
    exit_status = None
    signal = signal or SUCCESS
    if signal.isdigit():
        exit_status = int(signal)
        if exit_status > 255:
            return _text(400, "invalid url format")
        signal = SUCCESS if exit_status == 0 else FAIL
    elif signal not in (SUCCESS, START, FAIL):
        return _text(400, "invalid url format")
    body = request.body[:BODY_LIMIT].decode("utf-8", "replace") if request.body else ""
    meta = {
        "method": request.method,
        "remote_addr": request.META.get("REMOTE_ADDR", ""),
        "user_agent": request.headers.get("User-Agent", "")[:200],
        "body": body,
    }
    if not receive(key, signal, exit_status=exit_status, meta=meta):
        return _text(404, "not found")
    return _text(200, "OK")
