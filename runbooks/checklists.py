"""Checklist runs: attaching a scenario to an incident and ticking, skipping, noting its steps.

Every function here writes its change and exactly one timeline event in one transaction, like
incidents/actions.py. Steps change through a conditional UPDATE (`filter(state=…).update()`):
two responders ticking different steps both land, and ticking a step that is already done
changes nothing and writes no event (the function returns None) instead of failing.

The incident row is locked first even though the conditional UPDATE alone would be safe: the
lock makes event ids commit in order, and the live page's ETag is the newest event id. Without
it a poll could see event 11 commit before event 10 and never show event 10's change.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.safestring import SafeString
from markdown_it import MarkdownIt

from incidents.actions import ActionError, record
from incidents.models import Incident, Status, TimelineEvent
from probes.models import CheckRequest, ProbeResult, StepCheck
from probes.recognise import recognise_step
from runbooks.models import ChecklistRun, RunbookSection, Scenario, StepRun
from runbooks.render import code_block, inline
from runbooks.steps import checklist_steps
from runbooks.suggest import Candidate, Suggestion, load_candidates, rank, runbook_labels

Kind = TimelineEvent.Kind
State = StepRun.State

EXCERPT_CHARS = 80
MAX_REASON_CHARS = 2000
MAX_NOTE_CHARS = 10000

_MD = MarkdownIt("commonmark")


def plain_text(markdown: str) -> str:
    """Inline Markdown as the words a person reads (`REDIS_URL` → REDIS_URL), on one line."""
    words: list[str] = []
    for token in _MD.parseInline(markdown or ""):
        for child in token.children or []:
            if child.type in ("text", "code_inline"):
                words.append(child.content)
            elif child.type in ("softbreak", "hardbreak"):
                words.append(" ")
    return " ".join("".join(words).split())


def step_excerpt(step: StepRun) -> str:
    """What the timeline calls the step. "Run:" steps are named by their command."""
    text = plain_text(step.text)
    if text in ("", "Run:") and step.code:
        first_line = next((line for line in step.code[0]["content"].splitlines() if line), "")
        text = f"Run: {first_line.strip()}"
    if len(text) > EXCERPT_CHARS:
        text = text[: EXCERPT_CHARS - 1].rstrip() + "…"
    return text


def step_check_key(code: list[dict]) -> str:
    found = recognise_step(code)
    return found.key if found else ""


def _lock(incident_id: int) -> Incident:
    return Incident.objects.select_for_update().get(pk=incident_id)


def _step_data(step: StepRun, run: ChecklistRun, **extra) -> dict:
    return {
        "run_id": run.pk,
        "step_id": step.pk,
        "position": step.position,
        "step": step_excerpt(step),
        "scenario": run.scenario.title,
        **extra,
    }


def attach_scenario(
    incident: Incident,
    scenario: Scenario,
    *,
    by: AbstractBaseUser,
    at: datetime | None = None,
) -> ChecklistRun:
    """Start following a scenario: a run with a copy of its steps, pinned to its version.

    The steps are copied (not referenced) so that re-importing the runbook, which makes a new
    version, never changes a checklist someone is in the middle of.
    """
    at = at or timezone.now()
    version = scenario.version
    steps = checklist_steps(scenario.node)
    with transaction.atomic():
        current = _lock(incident.pk)
        if current.status == Status.RESOLVED:
            raise ActionError("The incident is resolved; reopen it to attach a runbook.")
        if ChecklistRun.objects.filter(incident=current, scenario=scenario).exists():
            # Most often a double click; following the same steps twice helps nobody.
            raise ActionError(f"'{scenario.title}' is already attached to this incident.")
        run = ChecklistRun.objects.create(
            incident=current, scenario=scenario, attached_by=by, attached_at=at
        )
        StepRun.objects.bulk_create(
            StepRun(
                run=run,
                position=position,
                depth=step["depth"],
                group=step["group"][:500],
                text=step["text"],
                code=step["code"],
                check_key=step_check_key(step["code"]),
            )
            for position, step in enumerate(steps)
        )
        runbook = version.runbook
        record(
            current,
            Kind.CHECKLIST_ATTACHED,
            by,
            text=f"attached '{scenario.title}' ({runbook.title} v{version.number}, "
            f"{len(steps)} steps)",
            data={
                "run_id": run.pk,
                "scenario_id": scenario.pk,
                "scenario": scenario.title,
                "kind": scenario.kind,
                "runbook": runbook.title,
                "version": version.number,
                "steps": len(steps),
            },
            at=at,
        )
    return run


def attach_section(
    incident: Incident,
    section: RunbookSection,
    *,
    by: AbstractBaseUser,
    at: datetime | None = None,
) -> ChecklistRun:
    """Follow any section of a runbook version, a unit or not: its checklist is
    `checklist_steps` of that section's node, pinned to the version like a scenario's.

    A section the version offers as a unit is attached as that unit. Any other gets a
    `section` Scenario row (made once per version and section, under the section row's lock)
    that carries the run; it is never offered as a unit itself."""
    with transaction.atomic():
        section = (
            RunbookSection.objects.select_for_update()
            .select_related("version__runbook")
            .get(pk=section.pk)
        )
        version = section.version
        same_place = [
            row
            for row in version.scenarios.filter(anchor=section.anchor, retired_at__isnull=True)
            if list(row.path) == list(section.path)
        ]
        unit = next((row for row in same_place if row.kind != Scenario.Kind.SECTION), None)
        scenario = unit or next(iter(same_place), None)
        if scenario is None:
            scenario = Scenario.objects.create(
                version=version,
                kind=Scenario.Kind.SECTION,
                title=section.title,
                anchor=section.anchor,
                severity=section.severity,
                position=section.position,
                path=section.path,
                search_text=section.search_text,
            )
        scenario.version = version
        return attach_scenario(incident, scenario, by=by, at=at)


def complete_step(
    step: StepRun,
    *,
    by: AbstractBaseUser,
    at: datetime | None = None,
    evidence: ProbeResult | None = None,
) -> TimelineEvent | None:
    """Tick a step (also one skipped earlier: someone did it after all). None if already done.

    `evidence` is the passing check result the step was ticked from; the event names it.
    """
    at = at or timezone.now()
    run = step.run
    text = f"ticked '{step_excerpt(step)}'"
    extra: dict = {}
    if evidence is not None:
        text += f" (check passed: {evidence.summary})"
        extra = {"result_id": evidence.pk, "probe_id": evidence.probe_id}
    with transaction.atomic():
        incident = _lock(run.incident_id)
        changed = StepRun.objects.filter(
            pk=step.pk, state__in=[State.PENDING, State.SKIPPED]
        ).update(state=State.DONE, skip_reason="", changed_by=by, changed_at=at)
        if not changed:
            return None
        return record(
            incident,
            Kind.STEP_DONE,
            by,
            text=text,
            data=_step_data(step, run, **extra),
            at=at,
        )


def reopen_step(
    step: StepRun, *, by: AbstractBaseUser, at: datetime | None = None
) -> TimelineEvent | None:
    """Put a done or skipped step back to do. None if it is already to do."""
    at = at or timezone.now()
    run = step.run
    with transaction.atomic():
        incident = _lock(run.incident_id)
        changed = StepRun.objects.filter(pk=step.pk, state__in=[State.DONE, State.SKIPPED]).update(
            state=State.PENDING, skip_reason="", changed_by=by, changed_at=at
        )
        if not changed:
            return None
        return record(
            incident,
            Kind.STEP_REOPENED,
            by,
            text=f"reopened '{step_excerpt(step)}'",
            data=_step_data(step, run),
            at=at,
        )


def skip_step(
    step: StepRun, *, reason: str, by: AbstractBaseUser, at: datetime | None = None
) -> TimelineEvent | None:
    """Skip a step that is still to do, saying why. None if it is already skipped."""
    reason = reason.strip()
    if not reason:
        raise ActionError("Say why the step is skipped: the review will ask.")
    if len(reason) > MAX_REASON_CHARS:
        raise ActionError(f"Keep the reason under {MAX_REASON_CHARS} characters.")
    at = at or timezone.now()
    run = step.run
    with transaction.atomic():
        incident = _lock(run.incident_id)
        changed = StepRun.objects.filter(pk=step.pk, state=State.PENDING).update(
            state=State.SKIPPED, skip_reason=reason, changed_by=by, changed_at=at
        )
        if not changed:
            state = StepRun.objects.values_list("state", flat=True).get(pk=step.pk)
            if state == State.SKIPPED:
                return None
            raise ActionError(f"'{step_excerpt(step)}' is done; reopen it before skipping it.")
        return record(
            incident,
            Kind.STEP_SKIPPED,
            by,
            text=f"skipped '{step_excerpt(step)}': {reason}",
            data=_step_data(step, run, reason=reason),
            at=at,
        )


def annotate_step(
    step: StepRun, *, text: str, by: AbstractBaseUser, at: datetime | None = None
) -> TimelineEvent:
    """A note about one step. It lives on the timeline only (the step itself is unchanged)."""
    text = text.strip()
    if not text:
        raise ActionError("A note needs some text.")
    if len(text) > MAX_NOTE_CHARS:
        raise ActionError(f"Keep the note under {MAX_NOTE_CHARS} characters.")
    run = step.run
    with transaction.atomic():
        incident = _lock(run.incident_id)
        return record(incident, Kind.STEP_NOTED, by, text=text, data=_step_data(step, run), at=at)


# -- What the incident page shows ------------------------------------------------------------


@dataclass
class StepView:
    step: StepRun
    html: SafeString
    code: list[SafeString]
    notes: list[TimelineEvent]
    # The accepted probe this step's code amounts to, and the latest run someone asked for.
    check: StepCheck | None = None
    request: CheckRequest | None = None

    @property
    def depth(self) -> int:
        # Deeper than this reads as noise in a narrow panel; the text still says it all.
        return min(self.step.depth, 3)

    @property
    def label(self) -> str:
        """The step in plain words, for buttons' accessible names."""
        return step_excerpt(self.step)


@dataclass
class GroupView:
    label: str
    steps: list[StepView]


@dataclass
class RunView:
    run: ChecklistRun
    groups: list[GroupView]
    steps: list[StepView]

    @property
    def total(self) -> int:
        return len(self.steps)

    @property
    def done(self) -> int:
        return sum(1 for s in self.steps if s.step.state == State.DONE)

    @property
    def skipped(self) -> int:
        return sum(1 for s in self.steps if s.step.state == State.SKIPPED)

    @property
    def finished(self) -> int:
        return self.done + self.skipped

    @property
    def pending(self) -> int:
        return self.total - self.finished

    @property
    def percent(self) -> int:
        return round(100 * self.finished / self.total) if self.total else 100

    @property
    def complete(self) -> bool:
        return self.finished == self.total


@dataclass
class ChecklistPanel:
    runs: list[RunView]
    suggestions: list[Suggestion]
    # For "attach another": every current scenario, grouped by runbook (label, candidates);
    # the label names the file too when two runbooks share a title.
    library: list[tuple[str, list[Candidate]]]
    attached_ids: set[int] = field(default_factory=set)


def step_check(step: StepRun) -> StepCheck | None:
    """The accepted check bound to this step's code in its runbook, if any."""
    if not step.check_key:
        return None
    return (
        StepCheck.objects.select_related("probe")
        .filter(runbook_id=step.run.scenario.version.runbook_id, key=step.check_key)
        .first()
    )


def latest_request(step: StepRun) -> CheckRequest | None:
    return step.check_requests.select_related("result", "probe", "requested_by").first()


def _checks_and_requests(
    incident: Incident, runs: list[ChecklistRun], steps: list[StepRun]
) -> tuple[dict[tuple[int, str], StepCheck], dict[int, CheckRequest]]:
    """Bound checks by (run, key) and each step's latest check request: two queries, and
    none at all when no step's code is a check."""
    keys = {step.check_key for step in steps if step.check_key}
    if not keys:
        return {}, {}
    runbook_of_run = {run.pk: run.scenario.version.runbook_id for run in runs}
    bound = {
        (check.runbook_id, check.key): check
        for check in StepCheck.objects.filter(
            runbook_id__in=set(runbook_of_run.values()), key__in=keys
        ).select_related("probe")
    }
    checks = {
        (run_id, key): bound[(runbook_id, key)]
        for run_id, runbook_id in runbook_of_run.items()
        for key in keys
        if (runbook_id, key) in bound
    }
    requests: dict[int, CheckRequest] = {}
    if checks:
        for request in (
            CheckRequest.objects.filter(step__run__incident_id=incident.pk)
            .select_related("result", "probe", "requested_by")
            .order_by("step_id", "-requested_at", "-id")
        ):
            requests.setdefault(request.step_id, request)
    return checks, requests


def checklist_panel(incident: Incident, *, services: list[str]) -> ChecklistPanel:
    """The Runbooks panel in four queries, whatever the number of runs and steps: runs (with
    scenario, version, runbook, attacher), their steps (with who changed them), the step notes
    (with authors), and, while the incident is open, the candidate scenarios."""
    runs = list(
        ChecklistRun.objects.filter(incident=incident).select_related(
            "scenario__version__runbook", "attached_by"
        )
    )
    steps = StepRun.objects.filter(run__incident_id=incident.pk).select_related("changed_by")
    notes: dict[int, list[TimelineEvent]] = defaultdict(list)
    for event in TimelineEvent.objects.filter(
        incident=incident, kind=Kind.STEP_NOTED
    ).select_related("actor"):
        notes[event.data.get("step_id")].append(event)

    steps = list(steps)
    checks, requests = _checks_and_requests(incident, runs, steps)
    by_run: dict[int, list[StepView]] = defaultdict(list)
    for step in steps:
        by_run[step.run_id].append(
            StepView(
                step=step,
                html=inline(step.text),
                code=[code_block(block) for block in step.code],
                notes=notes.get(step.pk, []),
                check=checks.get((step.run_id, step.check_key)),
                request=requests.get(step.pk),
            )
        )
    run_views = []
    for run in runs:
        run_steps = by_run.get(run.pk, [])
        groups: list[GroupView] = []
        for step_view in run_steps:
            if not groups or groups[-1].label != step_view.step.group:
                groups.append(GroupView(step_view.step.group, []))
            groups[-1].steps.append(step_view)
        run_views.append(RunView(run=run, groups=groups, steps=run_steps))

    suggestions: list[Suggestion] = []
    library: list[tuple[str, list[Candidate]]] = []
    attached_ids = {run.scenario_id for run in runs}
    if incident.status != Status.RESOLVED:
        candidates = load_candidates()
        # A run of an older version of the same scenario counts as attached too.
        attached_keys = {(r.scenario.version.runbook_id, r.scenario.anchor) for r in runs}
        attached_ids |= {
            c.scenario_id for c in candidates if (c.runbook_id, c.anchor) in attached_keys
        }
        suggestions = rank(
            candidates,
            title=incident.title,
            summary=incident.summary,
            services=services,
            exclude=attached_ids,
        )
        labels = runbook_labels(
            (c.runbook_id, c.runbook_title, c.runbook_filename) for c in candidates
        )
        groups: dict[int, list[Candidate]] = {}
        for candidate in candidates:
            if candidate.runbook_id not in groups:
                groups[candidate.runbook_id] = []
                library.append((labels[candidate.runbook_id], groups[candidate.runbook_id]))
            groups[candidate.runbook_id].append(candidate)
    return ChecklistPanel(run_views, suggestions, library, attached_ids)
