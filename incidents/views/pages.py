"""Incident list, declare form and incident page."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django_htmx.http import HttpResponseClientRedirect

from console.formtoken import one_time_form
from console.htmx import wants_part
from incidents import actions
from incidents.forms import DeclareForm, IncidentFilterForm
from incidents.models import Incident, RoleAssignment, Status
from incidents.permissions import get_incident_for_user, require_perm
from incidents.statuspage.views import editor_context
from incidents.tasks import schedule_ack_check
from incidents.views.live import live_context

BROKER_DOWN_NOTE = (
    "The task queue is unreachable, so the acknowledgement-target timer was not queued; "
    "the scheduler's sweep will record a breach once the queue is back."
)


@login_required
def incident_list(request: HttpRequest) -> HttpResponse:
    require_perm(request, "incidents.view_incident")
    form = IncidentFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}

    incidents = Incident.objects.select_related("declared_by").prefetch_related(
        "services",
        Prefetch(
            "role_assignments",
            queryset=RoleAssignment.objects.filter(ended_at__isnull=True).select_related("user"),
            to_attr="current_roles",
        ),
    )
    state = filters.get("state") or "open"
    if state == "open":
        incidents = incidents.open()
    elif state == "resolved":
        incidents = incidents.filter(status=Status.RESOLVED).order_by("-resolved_at")
    if filters.get("severity"):
        incidents = incidents.filter(severity=filters["severity"])
    if filters.get("service"):
        incidents = incidents.filter(services=filters["service"])
    if filters.get("mine"):
        incidents = incidents.involving(request.user)

    page = Paginator(incidents, settings.INCIDENT_LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "state": state,
        "query": query.urlencode(),
        "now": timezone.now(),
    }
    template = (
        "incidents/list.html#incident-table" if wants_part(request) else "incidents/list.html"
    )
    return render(request, template, context)


@login_required
@one_time_form
def declare(request: HttpRequest) -> HttpResponse:
    require_perm(request, "incidents.declare_incident")
    form = DeclareForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            incident = actions.declare_incident(
                title=form.cleaned_data["title"],
                severity=form.cleaned_data["severity"],
                summary=form.cleaned_data["summary"],
                customer_impact=form.cleaned_data["customer_impact"],
                services=form.cleaned_data["services"],
                declared_by=request.user,
                commander=form.cleaned_data["commander"] or request.user,
            )
            if not schedule_ack_check(incident):
                messages.warning(request, BROKER_DOWN_NOTE)
            messages.success(request, f"{incident.reference} declared.")
            if request.htmx:
                return HttpResponseClientRedirect(incident.get_absolute_url())
            return redirect(incident)
        template = (
            "incidents/declare.html#declare-form" if request.htmx else "incidents/declare.html"
        )
        return render(request, template, {"form": form}, status=422)
    return render(request, "incidents/declare.html", {"form": form})


@login_required
def incident_detail(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_incident_for_user(request, pk)
    context = live_context(request, incident, since=None)
    editor_context(request, context)
    return render(request, "incidents/detail.html", context)
