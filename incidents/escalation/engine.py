"""The escalation engine: freeze a policy onto an incident, page its levels as they fall due,
stop when someone acknowledges or the incident is resolved.

Every function runs inside the transaction of the timeline event that caused it, or opens its
own. Paging a level is claimed by inserting its EscalationPage row (unique per incident and
level), so two workers, a retried task, a redelivered one and the beat sweep can all try and
the level is paged once. Each scheduled task carries the escalation's token; a new snapshot or
a stop changes the token, and an older task drops out.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from incidents.actions import ActionError, record
from incidents.escalation.models import (
    Channel,
    EscalationPage,
    EscalationPolicy,
    IncidentEscalation,
    NotificationDelivery,
    OnCallRotation,
)
from incidents.models import Incident, Status, TimelineEvent

Kind = TimelineEvent.Kind


def policy_snapshot(policy: EscalationPolicy) -> dict:
    """The policy as plain data: what the incident keeps however the policy changes later."""
    levels = []
    for level in policy.levels.prefetch_related("users").select_related("group", "rotation"):
        levels.append(
            {
                "position": level.position,
                "name": level.name,
                "delay_minutes": level.delay_minutes,
                "users": [{"id": u.pk, "username": u.get_username()} for u in level.users.all()],
                "group": {"id": level.group_id, "name": level.group.name} if level.group else None,
                "rotation": (
                    {"id": level.rotation_id, "name": level.rotation.name}
                    if level.rotation
                    else None
                ),
                "channels": list(level.channels),
            }
        )
    return {
        "severity": policy.severity,
        "ack_minutes": policy.ack_minutes,
        "policy_updated_at": policy.updated_at.isoformat(),
        "levels": levels,
    }


def describe_targets(level: dict) -> str:
    parts = [u["username"] for u in level["users"]]
    if level["group"]:
        parts.append(f"group {level['group']['name']}")
    if level["rotation"]:
        parts.append(f"on call in {level['rotation']['name']}")
    return ", ".join(parts)


def _next_after(
    escalation: IncidentEscalation, paged: set[int]
) -> tuple[int | None, datetime | None]:
    for level in escalation.levels:
        if level["position"] not in paged:
            due = escalation.anchor_at + timedelta(minutes=level["delay_minutes"])
            return level["position"], due
    return None, None


def apply_policy(
    incident: Incident,
    *,
    by: AbstractBaseUser | None,
    reason: str,
    anchor_at: datetime | None = None,
    at: datetime | None = None,
    quiet: bool = False,
) -> IncidentEscalation | None:
    """Freeze the severity's policy onto the incident (again), with a new token, and queue its
    next level. Levels already paged stay paged. Called inside the incident's transaction."""
    at = at or timezone.now()
    policy = EscalationPolicy.objects.filter(severity=incident.severity).first()
    if policy is None:
        return None
    snapshot = policy_snapshot(policy)
    escalation = IncidentEscalation.objects.select_for_update().filter(incident=incident).first()
    if escalation is None:
        escalation = IncidentEscalation(incident=incident)
    escalation.severity = incident.severity
    escalation.snapshot = snapshot
    escalation.applied_at = at
    # A re-application keeps the clock it had (the declaration, or the reopening).
    escalation.anchor_at = anchor_at or escalation.anchor_at or incident.declared_at
    escalation.token = secrets.token_hex(16)
    escalation.stopped_at = None
    escalation.stop_reason = ""
    paged = set(EscalationPage.objects.filter(incident=incident).values_list("level", flat=True))
    escalation.next_level, escalation.next_due_at = _next_after(escalation, paged)
    escalation.save()
    if incident.acknowledged_at is None:
        # The policy's acknowledgement target drives the clock on the incident page.
        incident.ack_due_at = incident.declared_at + timedelta(minutes=policy.ack_minutes)
        Incident.objects.filter(pk=incident.pk).update(ack_due_at=incident.ack_due_at)
    if quiet:
        # Declaring: the DECLARED event is the record; the panel shows the snapshot.
        schedule_next(escalation)
        return escalation
    record(
        incident,
        Kind.ESCALATION_POLICY_APPLIED,
        by,
        text=reason,
        data={
            "severity": incident.severity,
            "ack_minutes": policy.ack_minutes,
            "levels": [
                {
                    "position": lv["position"],
                    "name": lv["name"],
                    "delay_minutes": lv["delay_minutes"],
                }
                for lv in snapshot["levels"]
            ],
        },
        at=at,
    )
    schedule_next(escalation)
    return escalation


def schedule_next(escalation: IncidentEscalation) -> None:
    """Queue the next level's task at its due time (after the commit); the sweep covers a
    task the broker lost or never got."""
    if escalation.next_level is None or escalation.next_due_at is None:
        return
    from console.queue import enqueue
    from incidents.escalation.tasks import escalate_level

    enqueue(
        escalate_level,
        escalation.incident_id,
        escalation.next_level,
        escalation.token,
        eta=escalation.next_due_at,
    )


def stop(
    incident: Incident,
    *,
    reason: str,
    by: AbstractBaseUser | None,
    at: datetime | None = None,
    quiet: bool = False,
) -> bool:
    """Stop the ladder (acknowledged, resolved). True when it was running. `quiet`: the
    event that stopped it (ACKNOWLEDGED) is the record; no ESCALATION_STOPPED of its own."""
    at = at or timezone.now()
    escalation = IncidentEscalation.objects.select_for_update().filter(incident=incident).first()
    if escalation is None or escalation.stopped_at is not None:
        return False
    escalation.stopped_at = at
    escalation.stop_reason = reason
    escalation.next_due_at = None
    escalation.token = secrets.token_hex(16)
    escalation.save(update_fields=["stopped_at", "stop_reason", "next_due_at", "token"])
    if quiet:
        return True
    paged = set(EscalationPage.objects.filter(incident=incident).values_list("level", flat=True))
    not_paged = [lv["name"] for lv in escalation.levels if lv["position"] not in paged]
    record(
        incident,
        Kind.ESCALATION_STOPPED,
        by,
        text=reason,
        data={"reason": reason, "not_paged": not_paged},
        at=at,
    )
    return True


def page_due(incident_id: int, token: str, *, now: datetime | None = None) -> list[int]:
    """Page every level of the running ladder that is due; the levels paged by this call."""
    now = now or timezone.now()
    done: list[int] = []
    with transaction.atomic():
        escalation = (
            IncidentEscalation.objects.select_for_update()
            .select_related("incident")
            .filter(incident_id=incident_id)
            .first()
        )
        if escalation is None or escalation.token != token or escalation.stopped_at:
            return done
        incident = escalation.incident
        if incident.status == Status.RESOLVED or incident.acknowledged_at is not None:
            return done
        # Bounded: at most one pass per level.
        for _ in range(len(escalation.levels)):
            if escalation.next_level is None or escalation.next_due_at > now:
                break
            level = escalation.next_level
            if _page(escalation, level, by=None, at=now):
                done.append(level)
            _advance(escalation)
        escalation.save(update_fields=["next_level", "next_due_at"])
        schedule_next(escalation)
    return done


def escalate_now(incident: Incident, *, by: AbstractBaseUser, at: datetime | None = None) -> int:
    """Page the next level immediately (a lead's call); the level paged."""
    at = at or timezone.now()
    with transaction.atomic():
        escalation = (
            IncidentEscalation.objects.select_for_update()
            .select_related("incident")
            .filter(incident=incident)
            .first()
        )
        if escalation is None:
            raise ActionError("This incident has no escalation policy.")
        if escalation.incident.status == Status.RESOLVED:
            raise ActionError("The incident is resolved; there is nobody left to page.")
        _advance(escalation)
        if escalation.next_level is None:
            raise ActionError("Every level of the ladder has been paged.")
        level = escalation.next_level
        if not _page(escalation, level, by=by, at=at, forced=True):
            raise ActionError("That level has just been paged.")
        _advance(escalation)
        if escalation.stopped_at is not None:
            escalation.next_due_at = None
        escalation.save(update_fields=["next_level", "next_due_at"])
        if escalation.stopped_at is None:
            schedule_next(escalation)
    return level


def _advance(escalation: IncidentEscalation) -> None:
    paged = set(
        EscalationPage.objects.filter(incident_id=escalation.incident_id).values_list(
            "level", flat=True
        )
    )
    escalation.next_level, escalation.next_due_at = _next_after(escalation, paged)


def _page(
    escalation: IncidentEscalation,
    position: int,
    *,
    by: AbstractBaseUser | None,
    at: datetime,
    forced: bool = False,
) -> bool:
    """Claim the level by inserting its page row, create its deliveries, write the event.
    False when the level was paged already (the claim lost)."""
    level = next(lv for lv in escalation.levels if lv["position"] == position)
    incident = escalation.incident
    try:
        with transaction.atomic():
            page = EscalationPage.objects.create(
                incident=incident,
                level=position,
                name=level["name"],
                paged_at=at,
                paged_by=by,
                token=escalation.token,
            )
    except IntegrityError:
        return False
    people = recipients(level, at)
    page.recipients = [p.pk for p in people]
    page.save(update_fields=["recipients"])
    deliveries = plan_deliveries(page, level, people)
    NotificationDelivery.objects.bulk_create(deliveries)
    record(
        incident,
        Kind.ESCALATION_PAGED,
        by,
        text=f"L{position} {level['name']}",
        data={
            "level": position,
            "name": level["name"],
            "recipients": [p.get_username() for p in people],
            "channels": level["channels"],
            "targets": describe_targets(level),
            "forced": forced,
        },
        at=at,
    )
    from console.queue import enqueue
    from incidents.escalation.tasks import deliver_notification

    for delivery, due_at in NotificationDelivery.objects.filter(
        page=page, state=NotificationDelivery.State.PENDING
    ).values_list("pk", "due_at"):
        if due_at is None:
            enqueue(deliver_notification, delivery)
        else:
            enqueue(deliver_notification, delivery, eta=due_at)
    return True


def recipients(level: dict, at: datetime) -> list[AbstractBaseUser]:
    """The people a level pages at `at`: its users, its group's members, who is on call."""
    User = get_user_model()
    ids: list[int] = [u["id"] for u in level["users"]]
    if level["group"]:
        ids += list(
            User.objects.filter(groups=level["group"]["id"], is_active=True).values_list(
                "pk", flat=True
            )
        )
    if level["rotation"]:
        rotation = OnCallRotation.objects.filter(pk=level["rotation"]["id"]).first()
        on_call = rotation.on_call_at(at) if rotation else None
        if on_call is not None:
            ids.append(on_call.pk)
    unique = list(dict.fromkeys(ids))
    people = {
        u.pk: u
        for u in User.objects.filter(pk__in=unique, is_active=True).select_related(
            "notification_profile"
        )
    }
    return [people[pk] for pk in unique if pk in people]


def personal_steps(page: EscalationPage, people: list) -> list[NotificationDelivery]:
    """Each person's notification rules for the incident's urgency, one delivery per step:
    target_key "user:<id>:step:<n>" makes (incident, level, person, step) unique."""
    from datetime import timedelta

    from incidents.escalation import rules
    from incidents.escalation.contacts import Urgency

    State = NotificationDelivery.State
    urgency = Urgency.of(page.incident.severity)
    methods, person_rules = rules.load(people)
    rows = []
    for person in people:
        steps = rules.steps_for(person, urgency, methods[person.pk], person_rules[person.pk])
        for number, step in enumerate(steps):
            rows.append(
                NotificationDelivery(
                    page=page,
                    incident_id=page.incident_id,
                    channel=step.kind,
                    target_key=f"user:{person.pk}:step:{number}",
                    target=step.address,
                    user=person,
                    method=step.method,
                    step=number,
                    due_at=(
                        page.paged_at + timedelta(minutes=step.delay_minutes)
                        if step.delay_minutes
                        else None
                    ),
                    state=State.SKIPPED if step.skip_reason else State.PENDING,
                    error=step.skip_reason,
                )
            )
    return rows


def plan_deliveries(page: EscalationPage, level: dict, people: list) -> list[NotificationDelivery]:
    from django.conf import settings

    State = NotificationDelivery.State
    rows = []
    for channel in level["channels"]:
        if channel == Channel.EMAIL:
            rows += personal_steps(page, people)
        elif channel in (Channel.SLACK, Channel.WEBHOOK):
            if channel == Channel.SLACK:
                missing = "" if settings.SLACK_WEBHOOK_URL else "SLACK_WEBHOOK_URL is not set"
                target = "Slack channel"
            else:
                missing = (
                    "ESCALATION_WEBHOOK_URL is not set"
                    if not settings.ESCALATION_WEBHOOK_URL
                    else "ESCALATION_WEBHOOK_SECRET is not set"
                    if not settings.ESCALATION_WEBHOOK_SECRET
                    else ""
                )
                target = "webhook"
            rows.append(
                NotificationDelivery(
                    page=page,
                    incident_id=page.incident_id,
                    channel=channel,
                    target_key="channel",
                    target=target,
                    state=State.SKIPPED if missing else State.PENDING,
                    error=missing,
                )
            )
    return rows


def due_escalations(now: datetime | None = None, limit: int = 500) -> list[tuple[int, str]]:
    """(incident id, token) of every running ladder with a level due: one query."""
    now = now or timezone.now()
    return list(
        IncidentEscalation.objects.filter(stopped_at__isnull=True, next_due_at__lte=now)
        .order_by("next_due_at")
        .values_list("incident_id", "token")[:limit]
    )
