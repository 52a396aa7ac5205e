"""POST endpoints that change an incident. Each answers htmx with 204 and an
`incident-changed` trigger (the page then refreshes its live parts through the one poll
endpoint), and a plain form post with a redirect back to the incident."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from console.formtoken import one_time_form
from incidents import actions
from incidents.forms import AcknowledgeForm, NoteForm, RoleForm, SeverityForm, StatusForm
from incidents.models import Incident, Status, TimelineEvent
from incidents.permissions import (
    get_incident_for_user,
    require_acknowledge_as,
    require_status_change,
)
from incidents.statuspage.actions import may_publish
from incidents.statuspage.final import resolve_with_final_update
from incidents.statuspage.models import CommsTemplate
from incidents.views.live import live_context


def _changed(request: HttpRequest, incident: Incident, message: str = "") -> HttpResponse:
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Trigger"] = "incident-changed"
        return response
    if message:
        messages.success(request, message)
    return redirect(incident)


def _refused(request: HttpRequest, incident: Incident, reason: str, status: int = 409):
    if request.htmx:
        return HttpResponse(reason, status=status, content_type="text/plain; charset=utf-8")
    messages.error(request, reason)
    return redirect(incident)


def _form_errors(form: Form) -> str:
    return " ".join(f"{field}: {' '.join(errors)}" for field, errors in form.errors.items())


@login_required
@require_POST
@one_time_form
def add_note(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_incident_for_user(request, pk, "incidents.declare_incident")
    form = NoteForm(request.POST)
    if not form.is_valid():
        # The typed text comes back in the bound form: nothing the responder wrote is lost.
        if request.htmx:
            return render(
                request,
                "incidents/detail.html#note-form",
                {"incident": incident, "note_form": form},
                status=422,
            )
        context = live_context(request, incident, since=None)
        context["note_form"] = form
        return render(request, "incidents/detail.html", context, status=422)
    actions.add_note(incident, text=form.cleaned_data["text"], by=request.user)
    return _changed(request, incident)


@login_required
@require_POST
def acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_incident_for_user(request, pk, "incidents.declare_incident")
    form = AcknowledgeForm(request.POST)
    if not form.is_valid():
        return _refused(request, incident, _form_errors(form), status=400)
    on_behalf_of = form.cleaned_data["on_behalf_of"]
    require_acknowledge_as(request, on_behalf_of)
    try:
        actions.acknowledge(incident, by=request.user, on_behalf_of=on_behalf_of)
    except actions.ActionError as exc:
        return _refused(request, incident, str(exc))
    return _changed(request, incident, f"{incident.reference} acknowledged.")


@login_required
@require_POST
def change_status(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_incident_for_user(request, pk, "incidents.declare_incident")
    form = StatusForm(request.POST)
    if not form.is_valid():
        return _refused(request, incident, _form_errors(form), status=400)
    to = form.cleaned_data["status"]
    require_status_change(request, incident, to)
    final = to == Status.RESOLVED and form.cleaned_data["final_update"]
    if final and not may_publish(request.user, incident):
        raise PermissionDenied("You may resolve, but not publish the final public update.")
    try:
        if final:
            template_id = form.cleaned_data["final_template"]
            resolve_with_final_update(
                incident,
                by=request.user,
                note=form.cleaned_data["note"],
                title=form.cleaned_data["final_title"],
                body=form.cleaned_data["final_body"],
                template=CommsTemplate.objects.filter(pk=template_id).first()
                if template_id
                else None,
            )
        else:
            actions.change_status(incident, to=to, by=request.user, note=form.cleaned_data["note"])
    except actions.ActionError as exc:
        return _refused(request, incident, str(exc))
    if final:
        return _changed(request, incident, "Resolved; the final update is on the status page.")
    return _changed(request, incident, f"Status is now {Status(to).label.lower()}.")


@login_required
@require_POST
def change_severity(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_incident_for_user(request, pk, "incidents.change_severity")
    form = SeverityForm(request.POST)
    if not form.is_valid():
        return _refused(request, incident, _form_errors(form), status=400)
    try:
        actions.change_severity(
            incident,
            to=form.cleaned_data["severity"],
            by=request.user,
            reason=form.cleaned_data["reason"],
        )
    except actions.ActionError as exc:
        return _refused(request, incident, str(exc))
    return _changed(request, incident, f"Severity is now {form.cleaned_data['severity']}.")


@login_required
@require_POST
def assign_role(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_incident_for_user(request, pk, "incidents.assign_roles")
    form = RoleForm(request.POST)
    if not form.is_valid():
        return _refused(request, incident, _form_errors(form), status=400)
    role, user = form.cleaned_data["role"], form.cleaned_data["user"]
    try:
        if user is None:
            actions.unassign_role(incident, role=role, by=request.user)
        else:
            actions.assign_role(incident, role=role, user=user, by=request.user)
    except actions.ActionError as exc:
        return _refused(request, incident, str(exc))
    return _changed(request, incident, "Roles updated.")


@login_required
@require_POST
def toggle_pin(request: HttpRequest, pk: int, event_id: int) -> HttpResponse:
    incident = get_incident_for_user(request, pk, "incidents.declare_incident")
    event = get_object_or_404(TimelineEvent, pk=event_id, incident=incident)
    try:
        if request.POST.get("pin") == "0":
            actions.unpin_note(incident, event=event, by=request.user)
        else:
            actions.pin_note(incident, event=event, by=request.user)
    except actions.ActionError as exc:
        return _refused(request, incident, str(exc))
    return _changed(request, incident)


@login_required
@require_POST
def take_command(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_incident_for_user(request, pk, "incidents.declare_incident")
    try:
        actions.take_command(incident, by=request.user)
    except actions.ActionError as exc:
        return _refused(request, incident, str(exc))
    return _changed(request, incident, "You are Incident Commander.")
