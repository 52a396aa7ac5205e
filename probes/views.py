"""Probes dashboard, probe page, and "Run now" with its result followed until it lands.

The dashboard is a fixed number of queries however many probes there are: the probes (state is
kept on the row), one window query for the last results of all of them (the sparklines), a count
per state and the dispatcher's heartbeat.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import unquote_plus, urlsplit

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    OuterRef,
    QuerySet,
    Subquery,
    Value,
    When,
    Window,
)
from django.db.models.functions import Coalesce, RowNumber
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from console.env import redact_url
from console.htmx import wants_part
from console.switches import posted_switch, refuse
from incidents.models import Service
from incidents.permissions import require_perm
from probes import engine, ondemand, sparkline
from probes.models import CheckRequest, Probe, ProbeResult

# The dispatcher beats every 5 s; six missed beats and the scheduler is taken as stopped.
HEARTBEAT_STALE_SECONDS = 30
HISTORY_PAGE_SIZE = 50
FLIPS_SHOWN = 20
# A requested check still waiting after this long gets a hint that no worker is taking it.
PENDING_HINT_SECONDS = 20

# Worst first: what needs a look is at the top of the dashboard.
STATE_RANK = Case(
    When(state=Probe.State.CRITICAL, then=Value(0)),
    When(state=Probe.State.ERROR, then=Value(1)),
    When(state=Probe.State.WARNING, then=Value(2)),
    When(state=Probe.State.UNKNOWN, then=Value(3)),
    default=Value(4),
    output_field=IntegerField(),
)
FILTER_ORDER = ["critical", "error", "warning", "ok", "unknown"]
RUNBOOK_HEAVY_FIELDS = ("source", "repaired", "tree")
STATES = ", ".join(Probe.State.values)


class ProbeFilterForm(forms.Form):
    state = forms.ChoiceField(
        choices=[("", "All"), *Probe.State.choices],
        required=False,
        error_messages={"invalid_choice": f"Unknown state “%(value)s”: filter by one of {STATES}."},
    )
    service = forms.ModelChoiceField(
        queryset=Service.objects.all(),
        required=False,
        empty_label="Any service",
        error_messages={"invalid_choice": "There is no service with id “%(value)s”."},
    )


# -- access ----------------------------------------------------------------------------------
def get_probe_for_user(request: HttpRequest, pk: int, perm: str | None = None) -> Probe:
    """The probe, or 404 if it doesn't exist, or 403 if the user may not see it or do perm."""
    require_perm(request, "probes.view_probe")
    if perm:
        require_perm(request, perm)
    probes = Probe.objects.select_related(
        "service", "open_incident", "scenario__version__runbook"
    ).defer(*(f"scenario__version__{name}" for name in RUNBOOK_HEAVY_FIELDS))
    return get_object_or_404(probes, pk=pk)


# -- reading ---------------------------------------------------------------------------------
def scheduler_status() -> dict:
    age = engine.heartbeat_age("dispatcher")
    return {
        "age": None if age is None else timedelta(seconds=age),
        "stopped": age is None or age > HEARTBEAT_STALE_SECONDS,
    }


@dataclass(frozen=True)
class SparkPoint:
    status: str
    latency_ms: float | None


def with_spark_bound(probes: QuerySet[Probe]) -> QuerySet[Probe]:
    """Annotate each probe with the time of its 50th newest result (or its oldest, when it has
    fewer): every result a sparkline needs is at or after it."""
    newest = ProbeResult.objects.filter(probe=OuterRef("pk")).order_by("-checked_at", "-id")
    oldest = ProbeResult.objects.filter(probe=OuterRef("pk")).order_by("checked_at", "id")
    return probes.annotate(
        spark_since=Coalesce(
            Subquery(newest.values("checked_at")[sparkline.SLOTS - 1 : sparkline.SLOTS]),
            Subquery(oldest.values("checked_at")[:1]),
        )
    )


def recent_results(
    probes: list[Probe], per_probe: int = sparkline.SLOTS
) -> dict[int, list[SparkPoint]]:
    """The last `per_probe` results of every probe, oldest first: one query.

    ROW_NUMBER() over each probe's results, newest first, keeps the top `per_probe` of each.
    The lower time bound (the earliest `spark_since`) spares the database from numbering
    a month of history only to throw it away; the window still decides what is kept.
    """
    if not probes:
        return {}
    results = ProbeResult.objects.filter(probe_id__in=[p.pk for p in probes])
    # A probe without a bound has no results at all, so it needs none.
    bounds = [p.spark_since for p in probes if getattr(p, "spark_since", None)]
    if bounds:
        results = results.filter(checked_at__gte=min(bounds))
    rows = (
        results.annotate(
            recency=Window(
                RowNumber(),
                partition_by=F("probe_id"),
                order_by=[F("checked_at").desc(), F("id").desc()],
            )
        )
        .filter(recency__lte=per_probe)
        # The rank orders the points; not fetching the timestamps spares decoding thousands
        # of them (most of this query's time on PostgreSQL).
        .values_list("probe_id", "recency", "status", "latency_ms")
        .order_by()
    )
    ranked: dict[int, list[tuple[int, SparkPoint]]] = defaultdict(list)
    for probe_id, recency, status, latency_ms in rows:
        ranked[probe_id].append((recency, SparkPoint(status, latency_ms)))
    return {
        probe_id: [point for _, point in sorted(points, key=lambda p: -p[0])]
        for probe_id, points in ranked.items()
    }


SECRET_WORDS = re.compile(r"pass|secret|token|key|auth|sig|cookie|session|credential", re.I)
MASK = "•••"


def redact(value: str) -> str:
    """A URL as it may be shown: password and secret-looking query values masked."""
    shown = redact_url(value)
    parts = urlsplit(shown)
    if parts.query:
        pairs = [pair.partition("=") for pair in parts.query.split("&")]
        query = "&".join(
            f"{key}{eq}{MASK if eq and SECRET_WORDS.search(unquote_plus(key)) else value}"
            for key, eq, value in pairs
        )
        shown = parts._replace(query=query).geturl()
    return shown


@dataclass(frozen=True)
class ConfigRow:
    key: str
    value: str
    env: bool = False  # the value names an environment variable; its content is never shown


def config_rows(config: dict) -> list[ConfigRow]:
    """The probe's configuration as it may be shown: URLs redacted, env var names only."""
    rows = []
    for key, value in config.items():
        if value is None or value == [] or value == {} or value == "":
            continue
        if key.endswith("_env"):
            rows.append(ConfigRow(key, str(value), env=True))
        elif key == "headers" and isinstance(value, dict):
            for name, header in value.items():
                rows.append(
                    ConfigRow(f"header {name}", MASK if SECRET_WORDS.search(name) else header)
                )
        elif key == "expect" and isinstance(value, list):
            for item in value:
                rows.append(ConfigRow("expect", expectation_text(item)))
        elif isinstance(value, bool):
            rows.append(ConfigRow(key, "yes" if value else "no"))
        elif isinstance(value, str) and "://" in value:
            rows.append(ConfigRow(key, redact(value)))
        elif isinstance(value, list):
            rows.append(ConfigRow(key, ", ".join(str(v) for v in value)))
        else:
            rows.append(ConfigRow(key, str(value)))
    return rows


def expectation_text(item: object) -> str:
    if not isinstance(item, dict):
        return str(item)
    if item.get("op") == "exists":
        return f"{item.get('path')} exists"
    value = item.get("value")
    shown = f'"{value}"' if isinstance(value, str) else str(value)
    return f"{item.get('path')} {item.get('op')} {shown}"


# -- pages -----------------------------------------------------------------------------------
@require_safe
@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    require_perm(request, "probes.view_probe")
    form = ProbeFilterForm(request.GET)
    if not form.is_valid():
        return bad_filter(request, form)
    service, state = form.cleaned_data["service"], form.cleaned_data["state"]

    probes = Probe.objects.select_related("service")
    if service:
        probes = probes.filter(service=service)
    counts = dict(probes.order_by().values_list("state").annotate(n=Count("pk")))
    if state:
        probes = probes.filter(state=state)
    probes = list(with_spark_bound(probes).annotate(rank=STATE_RANK).order_by("rank", "name"))
    results = recent_results(probes)
    for probe in probes:
        probe.sparkline = sparkline.build(results.get(probe.pk, []))

    context = {
        "form": form,
        "probes": probes,
        "state": state,
        "service": service,
        "state_filters": [
            {"value": "", "label": "All", "count": sum(counts.values())},
            *(
                {"value": value, "label": Probe.State(value).label, "count": counts.get(value, 0)}
                for value in FILTER_ORDER
            ),
        ],
        "scheduler": scheduler_status(),
        "now": timezone.now(),
    }
    template = (
        "probes/dashboard.html#probe-table" if wants_part(request) else "probes/dashboard.html"
    )
    return render(request, template, context)


def bad_filter(request: HttpRequest, form: ProbeFilterForm) -> HttpResponse:
    reason = " ".join(str(e) for errors in form.errors.values() for e in errors)
    if request.htmx:
        return refuse(reason)
    context = {
        "form": ProbeFilterForm(),
        "filter_error": reason,
        "state_filters": [{"value": "", "label": "All"}]
        + [{"value": v, "label": Probe.State(v).label} for v in FILTER_ORDER],
    }
    return render(request, "probes/dashboard.html", context, status=400)


@require_safe
@login_required
def probe_detail(request: HttpRequest, pk: int) -> HttpResponse:
    probe = get_probe_for_user(request, pk)
    context = detail_context(request, probe)
    template = "probes/detail.html#live" if wants_part(request) else "probes/detail.html"
    return render(request, template, context)


def detail_context(request: HttpRequest, probe: Probe) -> dict:
    now = timezone.now()
    history = ProbeResult.objects.filter(probe=probe).select_related("request__requested_by")
    page = Paginator(history, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    newest = (
        ProbeResult.objects.filter(probe=probe)
        .order_by("-checked_at", "-id")
        .values_list("status", "latency_ms")[: sparkline.SLOTS]
    )
    spark = sparkline.build(reversed([SparkPoint(*row) for row in newest]), width=600, height=90)
    # A check someone asked for in the last minutes and still running: the page picks up
    # following it after a reload.
    pending = (
        CheckRequest.objects.filter(
            probe=probe,
            result__isnull=True,
            requested_at__gte=now - timedelta(minutes=5),
        )
        .select_related("requested_by")
        .first()
    )
    return {
        "probe": probe,
        "config": config_rows(probe.config),
        "page": page,
        "spark": spark,
        "flips": list(probe.flips.all()[:FLIPS_SHOWN]),
        "pending": pending,
        "slow": pending is not None
        and (now - pending.requested_at).total_seconds() > PENDING_HINT_SECONDS,
        "scheduler": scheduler_status(),
        "now": now,
        "can_run": request.user.has_perm("probes.run_probe"),
        "ping_url": request.build_absolute_uri(probe.ping_path) if probe.is_heartbeat else "",
    }


# -- schedule --------------------------------------------------------------------------------
@require_POST
@login_required
def schedule(request: HttpRequest, pk: int) -> HttpResponse:
    """Turn a probe's schedule on (due at once) or off (it then runs only on demand)."""
    probe = get_probe_for_user(request, pk, "probes.change_probe")
    enabled = posted_switch(request)
    if enabled is None:
        return refuse("Say enabled=1 to schedule the probe or enabled=0 to pause it.")
    changes = {"enabled": enabled}
    if enabled:
        changes["next_run_at"] = timezone.now()
    Probe.objects.filter(pk=probe.pk).update(**changes)
    messages.success(
        request,
        f"{probe.name} is scheduled every {int(probe.interval.total_seconds())} s."
        if enabled
        else f"{probe.name} is paused: it runs only when someone asks.",
    )
    return redirect(probe)


# -- run now ---------------------------------------------------------------------------------
@require_POST
@login_required
def run_now(request: HttpRequest, pk: int) -> HttpResponse:
    probe = get_probe_for_user(request, pk, "probes.run_probe")
    check = ondemand.request_run(probe, by=request.user)
    if request.htmx:
        return check_fragment(request, probe, check)
    if check.inline:
        result = check.result
        messages.warning(
            request,
            f"Ran in this request: the task queue is unavailable. "
            f"{result.get_status_display()}: {result.summary}",
        )
    else:
        messages.success(request, "Check requested: the result appears below once a worker ran it.")
    return redirect(probe)


@require_safe
@login_required
def check_status(request: HttpRequest, pk: int, request_id: int) -> HttpResponse:
    probe = get_probe_for_user(request, pk)
    check = get_object_or_404(
        CheckRequest.objects.select_related("result", "requested_by"), pk=request_id, probe=probe
    )
    if not request.htmx:
        return redirect(probe)
    return check_fragment(request, probe, check)


def check_fragment(request: HttpRequest, probe: Probe, check: CheckRequest) -> HttpResponse:
    waited = (timezone.now() - check.requested_at).total_seconds()
    response = render(
        request,
        "probes/detail.html#run-result",
        {"probe": probe, "check": check, "slow": waited > PENDING_HINT_SECONDS},
    )
    if not check.pending:
        # The page's state, sparkline and history refresh themselves on this event.
        response["HX-Trigger"] = "probe-ran"
    return response
