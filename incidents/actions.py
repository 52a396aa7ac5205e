"""Every change to an incident, each written together with its one timeline event.

Each function locks the incident row, rechecks the state it is about to change, writes the
change and its event in one transaction, and raises ActionError when there is nothing to do
(already acknowledged, same severity) so the responder sees why nothing happened.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from incidents.models import (
    ACK_TARGETS,
    Incident,
    PinnedNote,
    Role,
    RoleAssignment,
    Service,
    Severity,
    Status,
    TimelineEvent,
)
from incidents.signals import event_recorded

Kind = TimelineEvent.Kind


class ActionError(Exception):
    """The change can't be made in the incident's current state; the message says why."""


def record(
    incident: Incident,
    kind: str,
    actor: AbstractBaseUser | None,
    text: str = "",
    data: dict | None = None,
    at: datetime | None = None,
) -> TimelineEvent:
    event = TimelineEvent.objects.create(
        incident=incident,
        kind=kind,
        actor=actor,
        text=text,
        data=data or {},
        at=at or timezone.now(),
    )
    event_recorded.send(sender=TimelineEvent, event=event)
    return event


def _locked(incident: Incident) -> Incident:
    """Re-read the incident under a row lock so the state we check is the state we change."""
    return Incident.objects.select_for_update().get(pk=incident.pk)


def _current_holder(incident: Incident, role: Role) -> RoleAssignment | None:
    return (
        RoleAssignment.objects.select_for_update()
        .select_related("user")
        .filter(incident=incident, role=role, ended_at__isnull=True)
        .first()
    )


def declare_incident(
    *,
    title: str,
    severity: str,
    declared_by: AbstractBaseUser,
    summary: str = "",
    customer_impact: str = "",
    services: Iterable[Service] = (),
    at: datetime | None = None,
    dedup_key: str | None = None,
    commander: AbstractBaseUser | None = None,
) -> Incident:
    """A person declaring passes `commander` (themselves unless they picked someone): the
    incident starts with an Incident Commander, named in the one `declared` event."""
    at = at or timezone.now()
    severity = Severity(severity)
    with transaction.atomic():
        incident = Incident.objects.create(
            dedup_key=dedup_key,
            title=title,
            summary=summary,
            customer_impact=customer_impact,
            severity=severity,
            declared_by=declared_by,
            declared_at=at,
            ack_due_at=at + ACK_TARGETS[severity],
        )
        services = list(services)
        incident.services.set(services)
        data = {"severity": severity.value, "services": [s.name for s in services]}
        if commander is not None:
            RoleAssignment.objects.create(
                incident=incident,
                role=Role.COMMANDER,
                user=commander,
                assigned_by=declared_by,
                started_at=at,
            )
            data["commander"] = commander.get_username()
        record(incident, Kind.DECLARED, declared_by, text=title, data=data, at=at)
    return incident


def acknowledge(
    incident: Incident,
    *,
    by: AbstractBaseUser,
    on_behalf_of: AbstractBaseUser | None = None,
    at: datetime | None = None,
    via: str = "",
) -> TimelineEvent:
    """`via`: where a paged person answered (sms, voice, push, slack), or the integration
    when a sender acknowledges (PagerDuty, Opsgenie), for the timeline."""
    at = at or timezone.now()
    responder = on_behalf_of or by
    with transaction.atomic():
        current = _locked(incident)
        if current.acknowledged_at is not None:
            raise ActionError(f"Already acknowledged by {current.acknowledged_by}.")
        if current.status == Status.RESOLVED:
            raise ActionError("The incident is resolved; there is nothing to acknowledge.")
        current.acknowledged_by = responder
        current.acknowledged_at = at
        current.save(update_fields=["acknowledged_by", "acknowledged_at"])
        data = {
            "seconds_to_acknowledge": round((at - current.declared_at).total_seconds()),
            "within_target": at <= current.ack_due_at,
        }
        if on_behalf_of is not None and on_behalf_of != by:
            data["on_behalf_of"] = on_behalf_of.get_username()
        text = ""
        if via:
            data["via"] = via
            text = f"acknowledged through {via}"
        event = record(current, Kind.ACKNOWLEDGED, by, text=text, data=data, at=at)
    incident.refresh_from_db()
    return event


def change_severity(
    incident: Incident,
    *,
    to: str,
    by: AbstractBaseUser,
    reason: str = "",
    at: datetime | None = None,
) -> TimelineEvent:
    to = Severity(to)
    with transaction.atomic():
        current = _locked(incident)
        before = current.severity
        if before == to:
            raise ActionError(f"The incident is already {to.value}.")
        current.severity = to
        fields = ["severity"]
        if current.acknowledged_at is None:
            # The clock runs from declaration; a new severity moves the target with it.
            current.ack_due_at = current.declared_at + ACK_TARGETS[to]
            fields.append("ack_due_at")
        current.save(update_fields=fields)
        event = record(
            current,
            Kind.SEVERITY_CHANGED,
            by,
            text=reason,
            data={"from": before, "to": to.value},
            at=at,
        )
    incident.refresh_from_db()
    return event


def change_status(
    incident: Incident,
    *,
    to: str,
    by: AbstractBaseUser,
    note: str = "",
    at: datetime | None = None,
) -> TimelineEvent:
    """Move along investigating → identified → monitoring → resolved, or reopen."""
    to = Status(to)
    at = at or timezone.now()
    with transaction.atomic():
        current = _locked(incident)
        before = current.status
        if before == to:
            raise ActionError(f"The incident is already {current.get_status_display().lower()}.")
        current.status = to
        fields = ["status"]
        if to == Status.RESOLVED:
            kind = Kind.RESOLVED
            current.resolved_at = at
            fields.append("resolved_at")
            if current.mitigated_at is None:
                current.mitigated_at = at
                fields.append("mitigated_at")
        elif before == Status.RESOLVED:
            kind = Kind.REOPENED
            current.resolved_at = None
            fields.append("resolved_at")
        else:
            kind = Kind.STATUS_CHANGED
            if to == Status.MONITORING and current.mitigated_at is None:
                current.mitigated_at = at
                fields.append("mitigated_at")
        current.save(update_fields=fields)
        event = record(current, kind, by, text=note, data={"from": before, "to": to.value}, at=at)
    incident.refresh_from_db()
    return event


def assign_role(
    incident: Incident,
    *,
    role: str,
    user: AbstractBaseUser,
    by: AbstractBaseUser,
    at: datetime | None = None,
) -> TimelineEvent:
    role = Role(role)
    at = at or timezone.now()
    with transaction.atomic():
        current = _locked(incident)
        holder = _current_holder(current, role)
        if holder is not None and holder.user_id == user.pk:
            raise ActionError(f"{user} is already {role.label}.")
        data = {"role": role.value, "to": user.get_username()}
        kind = Kind.ROLE_ASSIGNED
        if holder is not None:
            holder.ended_at = at
            holder.save(update_fields=["ended_at"])
            data["from"] = holder.user.get_username()
            kind = Kind.ROLE_HANDED_OVER
        RoleAssignment.objects.create(
            incident=current, role=role, user=user, assigned_by=by, started_at=at
        )
        return record(current, kind, by, data=data, at=at)


def take_command(
    incident: Incident, *, by: AbstractBaseUser, at: datetime | None = None
) -> TimelineEvent:
    """Anyone on the team becomes Incident Commander of an open incident that has none."""
    at = at or timezone.now()
    with transaction.atomic():
        current = _locked(incident)
        if current.status == Status.RESOLVED:
            raise ActionError("The incident is resolved; reopen it first.")
        holder = _current_holder(current, Role.COMMANDER)
        if holder is not None:
            raise ActionError(f"{holder.user.get_username()} is already Incident Commander.")
        RoleAssignment.objects.create(
            incident=current, role=Role.COMMANDER, user=by, assigned_by=by, started_at=at
        )
        data = {"role": Role.COMMANDER.value, "to": by.get_username(), "taken": True}
        return record(current, Kind.ROLE_ASSIGNED, by, data=data, at=at)


def unassign_role(incident: Incident, *, role: str, by: AbstractBaseUser) -> TimelineEvent:
    role = Role(role)
    now = timezone.now()
    with transaction.atomic():
        current = _locked(incident)
        holder = _current_holder(current, role)
        if holder is None:
            raise ActionError(f"Nobody is {role.label}.")
        holder.ended_at = now
        holder.save(update_fields=["ended_at"])
        return record(
            current,
            Kind.ROLE_UNASSIGNED,
            by,
            data={"role": role.value, "from": holder.user.get_username()},
            at=now,
        )


def add_note(
    incident: Incident, *, text: str, by: AbstractBaseUser, at: datetime | None = None
) -> TimelineEvent:
    text = text.strip()
    if not text:
        raise ActionError("A note needs some text.")
    with transaction.atomic():
        return record(incident, Kind.NOTE_ADDED, by, text=text, at=at)


def pin_note(incident: Incident, *, event: TimelineEvent, by: AbstractBaseUser) -> TimelineEvent:
    if event.incident_id != incident.pk or not event.is_note:
        raise ActionError("Only notes of this incident can be pinned.")
    with transaction.atomic():
        _locked(incident)
        if PinnedNote.objects.filter(event=event).exists():
            raise ActionError("That note is already pinned.")
        PinnedNote.objects.create(incident=incident, event=event, pinned_by=by)
        return record(
            incident, Kind.NOTE_PINNED, by, text=event.text[:200], data={"event_id": event.pk}
        )


def unpin_note(incident: Incident, *, event: TimelineEvent, by: AbstractBaseUser) -> TimelineEvent:
    with transaction.atomic():
        _locked(incident)
        deleted, _ = PinnedNote.objects.filter(incident=incident, event=event).delete()
        if not deleted:
            raise ActionError("That note is not pinned.")
        return record(
            incident, Kind.NOTE_UNPINNED, by, text=event.text[:200], data={"event_id": event.pk}
        )


def record_ack_breach(incident_id: int, now: datetime | None = None) -> bool:
    """Write the 'acknowledgement target breached' event once, if it is due. Safe to repeat."""
    now = now or timezone.now()
    with transaction.atomic():
        claimed = (
            Incident.objects.filter(
                pk=incident_id,
                acknowledged_at__isnull=True,
                ack_breach_recorded_at__isnull=True,
                ack_due_at__lte=now,
            )
            .exclude(status=Status.RESOLVED)
            .update(ack_breach_recorded_at=now)
        )
        if not claimed:
            return False
        incident = Incident.objects.get(pk=incident_id)
        minutes = round(incident.ack_target.total_seconds() / 60)
        record(
            incident,
            Kind.ACK_TARGET_BREACHED,
            None,
            text=f"Not acknowledged within the {incident.severity} target of {minutes} min",
            data={"due_at": incident.ack_due_at.isoformat(), "severity": incident.severity},
            at=now,
        )
    return True


SYSTEM_USERNAME = "console"


def system_user() -> AbstractBaseUser:
    """The account machine-opened incidents are declared by; it can't log in."""
    user, created = get_user_model().objects.get_or_create(
        username=SYSTEM_USERNAME, defaults={"is_active": False, "first_name": "Console"}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def open_or_join(
    *,
    dedup_key: str,
    title: str,
    severity: str,
    summary: str = "",
    services: Iterable[Service] = (),
    scenario=None,
) -> tuple[Incident, bool]:
    """The open incident with this key, or a new one: (incident, created). A new one gets
    `scenario` (a runbooks Scenario), when given, attached as a checklist by the console.

    The partial unique constraint on dedup_key decides between concurrent openers: the loser's
    INSERT fails inside its savepoint and it joins the winner's incident.
    """
    existing = Incident.objects.open().filter(dedup_key=dedup_key).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            incident = declare_incident(
                title=title,
                severity=severity,
                summary=summary,
                services=services,
                declared_by=system_user(),
                dedup_key=dedup_key,
            )
    except IntegrityError:
        return Incident.objects.open().get(dedup_key=dedup_key), False
    if scenario is not None:
        from runbooks.checklists import attach_scenario  # runbooks builds on this module

        attach_scenario(incident, scenario, by=system_user())
    return incident, True
