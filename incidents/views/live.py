"""The live part of the incident page: timeline, header, roles, controls and runbooks.

The page polls `timeline/?since=<first event shown>` every few seconds. The response carries an
ETag made from the newest event id and the newest change of a notification delivery (a retry
scheduled writes no event: it would be noise on the timeline); every other state change writes
an event, so an unchanged ETag means nothing on the page is stale: the poll costs one query of
its own (after the session, user and permission lookups every request makes) and a 304.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET

from incidents.escalation.models import NotificationDelivery
from incidents.escalation.panel import escalation_panel
from incidents.forms import NoteForm, responders
from incidents.intake.changes import recent_changes
from incidents.models import (
    Incident,
    PinnedNote,
    Role,
    RoleAssignment,
    Severity,
    Status,
    TimelineEvent,
)
from incidents.permissions import require_perm
from incidents.statuspage.actions import may_publish
from incidents.statuspage.final import draft as final_draft
from incidents.statuspage.views import comms_panel
from incidents.views.integrations import alerts_panel
from runbooks.checklists import checklist_panel

# A page left open for days keeps growing its live section; past this it reloads in full.
LIVE_EVENTS_CAP = 1000


def live_etag(
    incident_pk: int, since: int, last_event_id: int | None, deliveries_changed_at=None
) -> str:
    marker = int(deliveries_changed_at.timestamp() * 1_000_000) if deliveries_changed_at else 0
    return f'"tl-{incident_pk}-{since}-{last_event_id or 0}-{marker:x}"'


def live_context(request: HttpRequest, incident: Incident, since: int | None) -> dict:
    """Everything the live partials render.

    since=None: the first page load, the newest TIMELINE_PAGE_SIZE events;
    since=N: every event with id >= N (what a poll needs to bring the page up to date).
    """
    events = TimelineEvent.objects.filter(incident=incident).select_related("actor")
    if since is None:
        events = list(events.order_by("-id")[: settings.TIMELINE_PAGE_SIZE])
        since = events[-1].pk if events else 0
    else:
        events = list(events.filter(id__gte=since).order_by("-id")[:LIVE_EVENTS_CAP])
    has_earlier = (
        bool(events)
        and TimelineEvent.objects.filter(incident=incident, id__lt=events[-1].pk).exists()
    )

    current_roles = {
        a.role: a
        for a in RoleAssignment.objects.filter(
            incident=incident, ended_at__isnull=True
        ).select_related("user")
    }
    pins = list(
        PinnedNote.objects.filter(incident=incident).select_related("event__actor", "pinned_by")
    )
    services = list(incident.services.all())
    user = request.user
    now = timezone.now()
    can = {
        "declare": user.has_perm("incidents.declare_incident"),
        "assign_roles": user.has_perm("incidents.assign_roles"),
        "change_severity": user.has_perm("incidents.change_severity"),
        "resolve": user.has_perm("incidents.resolve_incident"),
        "ack_for_others": user.has_perm("incidents.acknowledge_for_others"),
        "escalate": user.has_perm("incidents.escalate_incident"),
    }
    communicator = current_roles.get(Role.COMMUNICATOR.value)
    escalation = escalation_panel(incident, now)
    checklists = checklist_panel(incident, services=[s.name for s in services])
    comms = comms_panel(incident, now)
    su_may_publish = may_publish(
        user, incident, communicator_id=communicator.user_id if communicator else 0
    )
    return {
        # The final public update offered with the resolve, once something was published.
        "final_update": final_draft(incident, comms["latest"], services, now)
        if incident.is_open and can["resolve"] and su_may_publish and comms["latest"]
        else None,
        "incident": incident,
        "services": services,
        "events": events,
        "since": since,
        "has_earlier": has_earlier,
        "etag": live_etag(
            incident.pk,
            since,
            events[0].pk if events else None,
            escalation["deliveries_changed_at"] if escalation else None,
        ),
        "roles": [(role, current_roles.get(role.value)) for role in Role],
        "pins": pins,
        "pinned_ids": {p.event_id for p in pins},
        "now": now,
        "ack_breached": incident.ack_breached(now),
        "can": can,
        "note_form": NoteForm(),
        "status_choices": Status.choices,
        "severity_choices": Severity.choices,
        # One query for every person picker on the page (roles, acknowledge on behalf).
        "people": list(responders()) if can["assign_roles"] or can["ack_for_others"] else [],
        # Runs, steps, step notes and suggestions: four queries however many runs and steps.
        "checklists": checklists,
        # The header's "who is in charge, what next" line (no query: from the panels above).
        "commander": current_roles.get(Role.COMMANDER.value),
        "communicator": communicator,
        "next_step": next(
            (sv.step for rv in checklists.runs for sv in rv.steps if sv.step.state == "pending"),
            None,
        ),
        # The alerts that opened or joined the incident: one query however many.
        "alerts": alerts_panel(incident),
        # Changes (deploys…) announced for its services around it: one query, none without.
        "changes": recent_changes(incident, services),
        # Status updates: the due time and the latest published ones (two queries).
        "comms": comms,
        # Whether this user may publish now (no query: roles above, permissions cached); the
        # poll offers the editor to someone just made Communicator.
        "su_may_publish": su_may_publish,
        # The escalation ladder, its pages and deliveries: three queries however many.
        "escalation": escalation,
    }


@login_required
@require_GET
def timeline(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request, "incidents.view_incident")
    if "before" in request.GET:
        return earlier_events(request, pk)
    try:
        since = max(int(request.GET.get("since", "0")), 0)
    except ValueError:
        return HttpResponse("since must be an event id", status=400, content_type="text/plain")

    newest = TimelineEvent.objects.filter(incident_id=OuterRef("pk")).order_by("-id")
    # Index delivery_changed (incident, -changed_at): one index probe in the same query.
    delivery_change = NotificationDelivery.objects.filter(incident_id=OuterRef("pk")).order_by(
        "-changed_at"
    )
    incident = get_object_or_404(
        Incident.objects.select_related("declared_by", "acknowledged_by").annotate(
            last_event_id=Subquery(newest.values("id")[:1]),
            deliveries_changed_at=Subquery(delivery_change.values("changed_at")[:1]),
        ),
        pk=pk,
    )
    etag = live_etag(incident.pk, since, incident.last_event_id, incident.deliveries_changed_at)
    if etag in request.headers.get("If-None-Match", ""):
        response = HttpResponseNotModified()
    else:
        context = live_context(request, incident, since=since)
        context["oob"] = True
        response = render(request, "incidents/detail.html#live", context)
    response["ETag"] = etag
    patch_cache_control(response, private=True, no_cache=True)
    return response


def earlier_events(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        before = int(request.GET["before"])
    except ValueError:
        return HttpResponse("before must be an event id", status=400, content_type="text/plain")
    incident = get_object_or_404(Incident, pk=pk)
    page_size = settings.TIMELINE_PAGE_SIZE
    events = list(
        TimelineEvent.objects.filter(incident=incident, id__lt=before)
        .select_related("actor")
        .order_by("-id")[: page_size + 1]
    )
    context = {
        "incident": incident,
        "events": events[:page_size],
        "has_earlier": len(events) > page_size,
        "pinned_ids": set(
            PinnedNote.objects.filter(incident=incident).values_list("event_id", flat=True)
        ),
        "can": {"declare": request.user.has_perm("incidents.declare_incident")},
    }
    if request.htmx:
        return render(request, "incidents/detail.html#earlier", context)
    return render(request, "incidents/earlier.html", context)
