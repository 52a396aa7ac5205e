"""/api/v1/runbooks: the runbooks, their versions and each version's parsed tree (the
public format `parse_runbook` prints; see the README); and the checklists an incident follows
(attach a scenario, tick, reopen, skip with a reason, note a step), through the same access
helper and functions as the incident page's Runbooks panel."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from django.db.models import Prefetch
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Path, Router, Schema, Status

from console.api_kit import READ, WRITE, ProblemError
from incidents.api.schemas import EventOut, event_data, iso_time
from incidents.permissions import get_incident_for_user, require_perm
from runbooks import checklists
from runbooks.models import ChecklistRun, Runbook, RunbookVersion, Scenario, StepRun
from runbooks.views_checklists import PERM
from runbooks.views_checklists import _step as step_for_user

router = Router(tags=["runbooks"])
Slug = Annotated[str, Path(pattern=r"^[-a-zA-Z0-9_]+$", max_length=120)]
Number = Annotated[int, Path(ge=1, le=2**31 - 1)]


class VersionOut(Schema):
    number: int
    filename: str
    imported_by: str | None
    imported_at: datetime
    warnings: list[Any]


class RunbookOut(Schema):
    slug: str
    title: str
    current_version: int | None


class TreeOut(Schema):
    slug: str
    number: int
    tree: dict[str, Any]


def version_data(version: RunbookVersion) -> dict:
    return {
        "number": version.number,
        "filename": version.filename,
        "imported_by": version.imported_by.get_username() if version.imported_by_id else None,
        "imported_at": iso_time(version.imported_at),
        "warnings": version.warnings,
    }


@router.get("", response={200: list[RunbookOut], **READ}, summary="List runbooks")
def list_runbooks(request: HttpRequest):
    require_perm(request, "runbooks.view_runbook")
    runbooks = Runbook.objects.select_related("current_version").only(
        "slug", "title", "current_version__number"
    )
    return [
        {
            "slug": r.slug,
            "title": r.title,
            "current_version": r.current_version.number if r.current_version_id else None,
        }
        for r in runbooks.order_by("slug")
    ]


@router.get("/{slug}/versions", response={200: list[VersionOut], **READ}, summary="Versions")
def runbook_versions(request: HttpRequest, slug: Slug):
    require_perm(request, "runbooks.view_runbook")
    runbook = get_object_or_404(Runbook, slug=slug)
    versions = (
        runbook.versions.select_related("imported_by")
        .only("number", "filename", "imported_at", "warnings", "imported_by__username")
        .order_by("-number")
    )
    return [version_data(v) for v in versions]


@router.get(
    "/{slug}/versions/{number}/tree", response={200: TreeOut, **READ}, summary="Parsed tree"
)
def runbook_tree(request: HttpRequest, slug: Slug, number: Number):
    require_perm(request, "runbooks.view_runbook")
    version = get_object_or_404(
        RunbookVersion.objects.only("number", "tree"), runbook__slug=slug, number=number
    )
    return {"slug": slug, "number": version.number, "tree": version.tree}


# -- Checklists: /api/v1/incidents/{id}/checklists -------------------------------------------

checklists_router = Router(tags=["checklists"])
IncidentId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The incident's id")]
StepId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The step's id")]


class StepOut(Schema):
    id: int
    position: int
    depth: int
    group: str
    text: str = Field(description="Inline Markdown as written in the runbook")
    state: str = Field(description="pending, done or skipped")
    skip_reason: str
    changed_by: str | None
    changed_at: datetime | None


class ChecklistOut(Schema):
    id: int
    scenario_id: int
    scenario: str
    runbook: str
    version: int
    attached_by: str
    attached_at: datetime
    steps: list[StepOut]


class AttachIn(Schema):
    scenario_id: int = Field(ge=1, le=2**63 - 1)


class SkipIn(Schema):
    reason: str = Field(max_length=checklists.MAX_REASON_CHARS)


class StepNoteIn(Schema):
    text: str = Field(max_length=checklists.MAX_NOTE_CHARS)


def step_data(step: StepRun) -> dict:
    return {
        "id": step.pk,
        "position": step.position,
        "depth": step.depth,
        "group": step.group,
        "text": step.text,
        "state": step.state,
        "skip_reason": step.skip_reason,
        "changed_by": step.changed_by.get_username() if step.changed_by_id else None,
        "changed_at": iso_time(step.changed_at),
    }


def run_data(run: ChecklistRun) -> dict:
    scenario = run.scenario
    return {
        "id": run.pk,
        "scenario_id": scenario.pk,
        "scenario": scenario.title,
        "runbook": scenario.version.runbook.slug,
        "version": scenario.version.number,
        "attached_by": run.attached_by.get_username(),
        "attached_at": iso_time(run.attached_at),
        "steps": [step_data(s) for s in run.steps.all()],
    }


def _runs(incident_id: int):
    return (
        ChecklistRun.objects.filter(incident_id=incident_id)
        .select_related("scenario__version__runbook", "attached_by")
        .defer(*(f"scenario__version__{name}" for name in ("source", "repaired", "tree")))
        .prefetch_related(
            Prefetch(
                "steps", queryset=StepRun.objects.select_related("changed_by").order_by("position")
            )
        )
        .order_by("id")
    )


def _step_answer(step: StepRun) -> dict:
    return step_data(StepRun.objects.select_related("changed_by").get(pk=step.pk))


@checklists_router.get(
    "/{incident_id}/checklists", response={200: list[ChecklistOut], **READ}, summary="Checklists"
)
def incident_checklists(request: HttpRequest, incident_id: IncidentId):
    incident = get_incident_for_user(request, incident_id)
    return [run_data(run) for run in _runs(incident.pk)]


@checklists_router.post(
    "/{incident_id}/checklists",
    response={201: ChecklistOut, **WRITE},
    summary="Attach a scenario as a checklist",
)
def attach_checklist(request: HttpRequest, incident_id: IncidentId, payload: AttachIn):
    incident = get_incident_for_user(request, incident_id, PERM)
    scenario = get_object_or_404(
        Scenario.objects.select_related("version__runbook"), pk=payload.scenario_id
    )
    run = checklists.attach_scenario(incident, scenario, by=request.user)
    return Status(201, run_data(_runs(incident.pk).get(pk=run.pk)))


@checklists_router.post(
    "/{incident_id}/checklists/steps/{step_id}/done",
    response={200: StepOut, **WRITE},
    summary="Tick a step",
)
def tick_step(request: HttpRequest, incident_id: IncidentId, step_id: StepId):
    """Ticking a step already done changes nothing (a colleague was quicker)."""
    _, step = step_for_user(request, incident_id, step_id)
    checklists.complete_step(step, by=request.user)
    return _step_answer(step)


@checklists_router.post(
    "/{incident_id}/checklists/steps/{step_id}/reopen",
    response={200: StepOut, **WRITE},
    summary="Reopen a step",
)
def reopen_checklist_step(request: HttpRequest, incident_id: IncidentId, step_id: StepId):
    _, step = step_for_user(request, incident_id, step_id)
    checklists.reopen_step(step, by=request.user)
    return _step_answer(step)


@checklists_router.post(
    "/{incident_id}/checklists/steps/{step_id}/skip",
    response={200: StepOut, **WRITE},
    summary="Skip a step, with a reason",
)
def skip_checklist_step(
    request: HttpRequest, incident_id: IncidentId, step_id: StepId, payload: SkipIn
):
    _, step = step_for_user(request, incident_id, step_id)
    if not payload.reason.strip():
        raise ProblemError(
            422,
            "Give a reason for skipping this step.",
            errors=[{"field": "reason", "message": "Give a reason for skipping this step."}],
        )
    checklists.skip_step(step, reason=payload.reason, by=request.user)
    return _step_answer(step)


@checklists_router.post(
    "/{incident_id}/checklists/steps/{step_id}/notes",
    response={201: EventOut, **WRITE},
    summary="Note on a step",
)
def note_checklist_step(
    request: HttpRequest, incident_id: IncidentId, step_id: StepId, payload: StepNoteIn
):
    _, step = step_for_user(request, incident_id, step_id)
    if not payload.text.strip():
        raise ProblemError(
            422,
            "Write something to note on this step.",
            errors=[{"field": "text", "message": "Write something to note on this step."}],
        )
    event = checklists.annotate_step(step, text=payload.text, by=request.user)
    return Status(201, event_data(event))
