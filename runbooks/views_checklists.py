"""POST endpoints of the incident page's Runbooks panel: attach a scenario, tick, reopen, skip
and note its steps.

Like incidents/views/changes.py, each answers htmx with 204 and an `incident-changed` trigger
(every action wrote an event, so the page's poll brings the panel up to date out of band) and a
plain form post with a redirect back to the step. Responders follow runbooks, so every endpoint
needs `incidents.declare_incident`.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe

from console.formtoken import one_time_form
from incidents.actions import ActionError
from incidents.models import Incident
from incidents.permissions import get_incident_for_user
from incidents.views.live import live_context
from probes.models import Probe, ProbeResult
from probes.ondemand import request_run
from runbooks import checklists
from runbooks.models import RunbookSection, Scenario, StepRun
from runbooks.search import search_sections

PERM = "incidents.declare_incident"


def _changed(request: HttpRequest, incident: Incident, anchor: str) -> HttpResponse:
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Trigger"] = "incident-changed"
        return response
    return redirect(f"{incident.get_absolute_url()}#{anchor}")


def _refused(
    request: HttpRequest, incident: Incident, reason: str, status: int = 409
) -> HttpResponse:
    if request.htmx:
        return HttpResponse(reason, status=status, content_type="text/plain; charset=utf-8")
    if status == 400:
        # Without JavaScript the page itself carries the message, with the real status code.
        messages.error(request, reason)
        return render(
            request, "incidents/detail.html", live_context(request, incident, None), status=400
        )
    messages.error(request, reason)
    return redirect(incident)


def _step(request: HttpRequest, pk: int, step_id: int) -> tuple[Incident, StepRun]:
    """The incident and one of its steps; a step of another incident is a 404."""
    incident = get_incident_for_user(request, pk, PERM)
    step = get_object_or_404(
        StepRun.objects.select_related("run__scenario"), pk=step_id, run__incident_id=incident.pk
    )
    return incident, step


@login_required
@require_POST
@one_time_form
def attach(request: HttpRequest, pk: int) -> HttpResponse:
    """Attach a scenario or procedure (`scenario`), or any section of a runbook (`section`,
    a RunbookSection of a current version, from the section search)."""
    incident = get_incident_for_user(request, pk, PERM)
    scenario_id = request.POST.get("scenario", "")
    section_id = request.POST.get("section", "")
    if section_id:
        if not section_id.isdigit():
            return _refused(request, incident, "Choose a runbook section to attach.", 400)
        section = get_object_or_404(
            RunbookSection.objects.filter(version__runbook__current_version=F("version")).only(
                "pk"
            ),
            pk=int(section_id),
        )
        try:
            run = checklists.attach_section(incident, section, by=request.user)
        except ActionError as exc:
            return _refused(request, incident, str(exc))
        return _changed(request, incident, f"run-{run.pk}")
    if not scenario_id.isdigit():
        return _refused(request, incident, "Choose a scenario or procedure to attach.", 400)
    scenario = get_object_or_404(
        Scenario.objects.filter(retired_at__isnull=True).select_related("version__runbook"),
        pk=int(scenario_id),
    )
    try:
        run = checklists.attach_scenario(incident, scenario, by=request.user)
    except ActionError as exc:
        return _refused(request, incident, str(exc))
    return _changed(request, incident, f"run-{run.pk}")


@login_required
@require_safe
def section_search(request: HttpRequest, pk: int) -> HttpResponse:
    """Search every section of every current runbook version, to attach one. The incident
    page asks for the results fragment; without JavaScript this is a page of its own."""
    incident = get_incident_for_user(request, pk, PERM)
    query = request.GET.get("q", "").strip()
    results = search_sections(query) if query else []
    context = {
        "incident": incident,
        "query": query,
        "results": results,
        "can_attach": incident.is_open,
    }
    if request.htmx:
        return render(request, "runbooks/section_search.html#section-results", context)
    return render(request, "runbooks/section_search.html", context)


@login_required
@require_POST
def complete_step(request: HttpRequest, pk: int, step_id: int) -> HttpResponse:
    incident, step = _step(request, pk, step_id)
    evidence = None
    if request.POST.get("result"):
        # "Tick: check passed": only a passing result of this very step's check counts.
        raw = request.POST["result"]
        evidence = ProbeResult.objects.filter(
            pk=int(raw) if raw.isdigit() else 0, request__step=step, status=Probe.State.OK
        ).first()
        if evidence is None:
            return _refused(request, incident, "That check result didn't pass on this step.", 400)
    # Already done (a colleague was quicker, or a double click): nothing to do, not an error.
    checklists.complete_step(step, by=request.user, evidence=evidence)
    return _changed(request, incident, f"step-{step.pk}")


@login_required
@require_POST
def reopen_step(request: HttpRequest, pk: int, step_id: int) -> HttpResponse:
    incident, step = _step(request, pk, step_id)
    checklists.reopen_step(step, by=request.user)
    return _changed(request, incident, f"step-{step.pk}")


@login_required
@require_POST
def skip_step(request: HttpRequest, pk: int, step_id: int) -> HttpResponse:
    incident, step = _step(request, pk, step_id)
    reason = request.POST.get("reason", "").strip()
    if not reason:
        return _refused(request, incident, "Give a reason for skipping this step.", 400)
    if len(reason) > checklists.MAX_REASON_CHARS:
        return _refused(
            request,
            incident,
            f"Keep the reason under {checklists.MAX_REASON_CHARS} characters.",
            400,
        )
    try:
        checklists.skip_step(step, reason=reason, by=request.user)
    except ActionError as exc:
        return _refused(request, incident, str(exc))
    return _changed(request, incident, f"step-{step.pk}")


@login_required
@require_POST
@one_time_form
def annotate_step(request: HttpRequest, pk: int, step_id: int) -> HttpResponse:
    incident, step = _step(request, pk, step_id)
    text = request.POST.get("text", "").strip()
    if not text:
        return _refused(request, incident, "Write something to note on this step.", 400)
    if len(text) > checklists.MAX_NOTE_CHARS:
        return _refused(
            request, incident, f"Keep the note under {checklists.MAX_NOTE_CHARS} characters.", 400
        )
    checklists.annotate_step(step, text=text, by=request.user)
    return _changed(request, incident, f"step-{step.pk}")


# -- Steps that check themselves -------------------------------------------------------------


def _check_fragment(
    request: HttpRequest, incident: Incident, step: StepRun, check, check_request
) -> HttpResponse:
    response = render(
        request,
        "runbooks/step_check.html",
        {
            "incident": incident,
            "step": step,
            "check": check,
            "check_request": check_request,
            "can_tick": request.user.has_perm(PERM),
        },
    )
    if check_request is not None and not check_request.pending:
        # The result is on the timeline now: let the page's poll pick it up at once.
        response["HX-Trigger"] = "incident-changed"
    return response


@login_required
@require_POST
def run_check(request: HttpRequest, pk: int, step_id: int) -> HttpResponse:
    """Run the probe bound to a step: through a worker, or here when the broker is down."""
    incident, step = _step(request, pk, step_id)
    if not request.user.has_perm("probes.run_probe"):
        raise PermissionDenied
    check = checklists.step_check(step)
    if check is None:
        return _refused(request, incident, "This step has no accepted check to run.", 404)
    check_request = request_run(check.probe, by=request.user, step=step)
    if not request.htmx:
        if check_request.inline:
            messages.warning(request, "The task queue is unavailable: the check ran here.")
        return redirect(f"{incident.get_absolute_url()}#step-{step.pk}")
    return _check_fragment(request, incident, step, check, check_request)


@login_required
@require_safe
def check_status(request: HttpRequest, pk: int, step_id: int) -> HttpResponse:
    """The step's check area: polled every second while its latest run is pending."""
    incident, step = _step(request, pk, step_id)
    return _check_fragment(
        request, incident, step, checklists.step_check(step), checklists.latest_request(step)
    )
