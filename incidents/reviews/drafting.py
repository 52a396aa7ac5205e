"""What a review is drafted from: the incident's timeline (which events, described how),
the impact times, runbook feedback and the post-incident checklist."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from incidents.models import Role, Status, TimelineEvent
from incidents.reviews.models import PostIncidentReview, ReviewTimelineEntry
from incidents.templatetags.incident_tags import duration

Kind = TimelineEvent.Kind

# Events a review's timeline is drafted from; the editors choose which of them to show.
DRAFT_KINDS = [
    Kind.DECLARED,
    Kind.ACKNOWLEDGED,
    Kind.ACK_TARGET_BREACHED,
    Kind.SEVERITY_CHANGED,
    Kind.STATUS_CHANGED,
    Kind.RESOLVED,
    Kind.REOPENED,
    Kind.ROLE_ASSIGNED,
    Kind.ROLE_HANDED_OVER,
    Kind.ROLE_UNASSIGNED,
    Kind.CHECKLIST_ATTACHED,
    Kind.STEP_DONE,
    Kind.STEP_SKIPPED,
    Kind.PROBE_RESULT,
    Kind.PROBE_FAILED,
    Kind.PROBE_RECOVERED,
    Kind.ALERT_FIRING,
    Kind.ALERT_RESOLVED,
    Kind.ALERTS_RESOLVED,
    Kind.SECURITY_SIGNAL,
    Kind.ESCALATION_PAGED,
    Kind.UPDATE_PUBLISHED,
    Kind.NOTE_ADDED,
]
# Offered, but hidden until an editor shows them: notes are often chatter.
HIDDEN_BY_DEFAULT = {Kind.NOTE_ADDED}

# Written in our own words; a runbook's accepted post-incident list replaces it.
DEFAULT_CHECKLIST = [
    "Confirm the fix holds and monitoring is back to normal",
    "Close or hand over every open alert and page",
    "Tell customers and internal stakeholders the incident is over",
    "Write the review within 48 hours of resolution",
    "Hold a blameless review meeting with everyone involved",
    "Turn each long-term fix into an owned action item with a date",
    "Update the runbooks with what was missing or wrong",
]


def checklist_items() -> list[str]:
    """The team's post-incident checklist: the accepted (else newest proposed) runbook
    proposal of kind review_checklist, or the built-in default."""
    from runbooks.models import Proposal

    proposals = Proposal.objects.filter(kind=Proposal.Kind.REVIEW_CHECKLIST).exclude(
        status=Proposal.Status.DISMISSED
    )
    accepted = proposals.filter(status=Proposal.Status.ACCEPTED).order_by("-decided_at", "-pk")
    chosen = accepted.first() or proposals.order_by("-pk").first()
    if chosen is not None:
        items = [str(i).strip()[:500] for i in chosen.payload.get("items", []) if str(i).strip()]
        if items:
            return items
    return list(DEFAULT_CHECKLIST)


def _role(value: str) -> str:
    try:
        return Role(value).label
    except ValueError:
        return value or "role"


def _status(value: str) -> str:
    try:
        return Status(value).label
    except ValueError:
        return value or "?"


def describe(event: TimelineEvent) -> str:
    """One line saying what happened, from the event's own fields (plain text)."""
    d = event.data or {}
    actor = event.actor.get_username() if event.actor_id else "console"
    kind = event.kind
    if kind == Kind.DECLARED:
        return f"{actor} declared the incident as {d.get('severity', '')}: {event.text}"
    if kind == Kind.ACKNOWLEDGED:
        secs = d.get("seconds_to_acknowledge")
        after = f" after {_seconds(secs)}" if secs is not None else ""
        late = " (late)" if d.get("within_target") is False else ""
        who = d.get("on_behalf_of") or actor
        return f"{who} acknowledged{after}{late}"
    if kind == Kind.SEVERITY_CHANGED:
        reason = f": {event.text}" if event.text else ""
        return f"{actor} changed severity {d.get('from')} → {d.get('to')}{reason}"
    if kind == Kind.STATUS_CHANGED:
        note = f": {event.text}" if event.text else ""
        return f"{actor} changed status {_status(d.get('from'))} → {_status(d.get('to'))}{note}"
    if kind == Kind.RESOLVED:
        return f"{actor} resolved the incident" + (f": {event.text}" if event.text else "")
    if kind == Kind.REOPENED:
        return f"{actor} reopened the incident" + (f": {event.text}" if event.text else "")
    if kind == Kind.ROLE_ASSIGNED:
        return f"{actor} assigned {d.get('to')} as {_role(d.get('role'))}"
    if kind == Kind.ROLE_HANDED_OVER:
        return f"{actor} handed {_role(d.get('role'))} from {d.get('from')} to {d.get('to')}"
    if kind == Kind.ROLE_UNASSIGNED:
        return f"{actor} removed {d.get('from')} as {_role(d.get('role'))}"
    if kind == Kind.CHECKLIST_ATTACHED:
        return f"{actor} attached {d.get('scenario', 'a runbook scenario')}"
    if kind == Kind.STEP_DONE:
        return f"{actor} ticked step: {d.get('step', '')}"
    if kind == Kind.STEP_SKIPPED:
        return f"{actor} skipped step: {d.get('step', '')} (reason: {d.get('reason', '')})"
    if kind in (Kind.PROBE_RESULT, Kind.PROBE_FAILED, Kind.PROBE_RECOVERED):
        figures = [str(d.get("status", "")).upper()]
        if d.get("latency_ms") is not None:
            figures.append(f"{d['latency_ms']} ms")
        label = d.get("probe") or event.get_kind_display()
        summary = d.get("summary") or event.text
        return f"{label}: {' · '.join(f for f in figures if f)} · {summary}"
    if kind == Kind.UPDATE_PUBLISHED:
        status = f" ({_status(d['status'])})" if d.get("status") else ""
        return f"{actor} published a status update{status}: {event.text}"
    if kind == Kind.ESCALATION_PAGED:
        return f"Paged: {event.text}" if event.text else "Paged the next escalation level"
    if kind in (Kind.ALERT_FIRING, Kind.ALERT_RESOLVED):
        return f"Alert {d.get('status', '')}: {d.get('alert') or event.text}"
    if kind == Kind.NOTE_ADDED:
        return f"{actor} noted: {event.text}"
    label = event.get_kind_display()
    return f"{label}: {event.text}" if event.text else label


def _seconds(value: float) -> str:
    return human_duration(timedelta(seconds=value))


def human_duration(value: timedelta | None) -> str:
    """The console's compact duration (45s, 12m, 3h 05m, 2d 4h); a dash when there is none."""
    return duration(value) if value is not None else "—"


@dataclass
class DraftedEvent:
    event: TimelineEvent
    shown: bool
    annotation: str

    @property
    def at(self) -> datetime:
        return self.event.at

    @property
    def text(self) -> str:
        return describe(self.event)


def drafted_timeline(review: PostIncidentReview) -> list[DraftedEvent]:
    """Every draftable event of the incident, in timeline order, with the editors' choices
    (two queries: the events with their actors, the choices)."""
    events = (
        TimelineEvent.objects.filter(incident_id=review.incident_id, kind__in=DRAFT_KINDS)
        .select_related("actor")
        .order_by("at", "id")
    )
    choices = {e.event_id: e for e in ReviewTimelineEntry.objects.filter(review=review)}
    drafted = []
    for event in events:
        choice = choices.get(event.pk)
        if choice is not None:
            drafted.append(DraftedEvent(event, choice.shown, choice.annotation))
        else:
            drafted.append(DraftedEvent(event, event.kind not in HIDDEN_BY_DEFAULT, ""))
    return drafted


@dataclass
class Moment:
    key: str
    label: str
    at: datetime | None
    since_start: timedelta | None


def impact_moments(review: PostIncidentReview, events: list[DraftedEvent]) -> list[Moment]:
    """Start, detection, acknowledgement, mitigation and resolution, from the timeline.

    Detection is the first alert, failing probe or the declaration; mitigation the first move
    to monitoring (or the resolution); resolution the last resolve. Start is the editors'
    impact start when set, else detection."""

    def first(kinds, predicate=lambda e: True):
        return next((d.at for d in events if d.event.kind in kinds and predicate(d.event)), None)

    detection = first({Kind.ALERT_FIRING, Kind.PROBE_FAILED, Kind.DECLARED})
    acknowledged = first({Kind.ACKNOWLEDGED})
    resolved_events = [d.at for d in events if d.event.kind == Kind.RESOLVED]
    resolution = resolved_events[-1] if resolved_events else None
    mitigation = first(
        {Kind.STATUS_CHANGED, Kind.RESOLVED},
        lambda e: e.kind == Kind.RESOLVED or (e.data or {}).get("to") == Status.MONITORING,
    )
    start = review.impact_started_at or detection
    moments = [
        ("start", "Impact started", start),
        ("detection", "Detected", detection),
        ("acknowledgement", "Acknowledged", acknowledged),
        ("mitigation", "Mitigated", mitigation),
        ("resolution", "Resolved", resolution),
    ]
    return [
        Moment(key, label, at, (at - start) if at and start else None) for key, label, at in moments
    ]


@dataclass
class StepFeedback:
    scenario: str
    runbook: str
    version: int
    step: str
    outcome: str  # "skipped" or "check failed"
    detail: str
    url: str


def runbook_feedback(review: PostIncidentReview) -> list[StepFeedback]:
    """Steps skipped or whose last check failed, with a link to the step itself on the
    runbook version's page."""
    from runbooks.models import StepRun
    from runbooks.render import step_urls

    steps = (
        StepRun.objects.filter(run__incident_id=review.incident_id)
        .select_related("run__scenario__version__runbook")
        .order_by("run_id", "position")
    )
    failed_checks = {}
    for event in TimelineEvent.objects.filter(
        incident_id=review.incident_id, kind=Kind.PROBE_RESULT
    ).order_by("id"):
        d = event.data or {}
        if d.get("step_id") is not None:
            failed_checks[d["step_id"]] = d if d.get("status") in ("critical", "error") else None
    feedback = []
    links = {}
    for step in steps:
        scenario = step.run.scenario
        version = scenario.version
        failure = failed_checks.get(step.pk)
        if step.state == StepRun.State.SKIPPED:
            outcome, detail = "skipped", step.skip_reason
        elif failure:
            outcome = "check failed"
            detail = f"{failure.get('status', '').upper()} · {failure.get('summary', '')}"
        else:
            continue
        if scenario.pk not in links:
            links[scenario.pk] = step_urls(scenario)
        feedback.append(
            StepFeedback(
                scenario=scenario.title,
                runbook=version.runbook.title,
                version=version.number,
                step=step.text,
                outcome=outcome,
                detail=detail,
                url=links[scenario.pk](step.position),
            )
        )
    return feedback
