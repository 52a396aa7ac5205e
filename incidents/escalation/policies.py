"""Changing what escalates: policies (edited by leads or accepted from a runbook proposal),
rotations and their overrides. Each change is one transaction."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from incidents.actions import ActionError
from incidents.escalation.models import (
    EscalationLevel,
    EscalationPolicy,
    OnCallRotation,
    RotationMember,
    RotationOverride,
)
from incidents.models import Severity
from runbooks.models import Proposal


def save_policy(
    policy: EscalationPolicy, *, ack_minutes: int, levels: list[dict], by: AbstractBaseUser
) -> EscalationPolicy:
    """Replace the policy's ladder. Running incidents keep their snapshot."""
    with transaction.atomic():
        policy = EscalationPolicy.objects.select_for_update().get(pk=policy.pk)
        policy.ack_minutes = ack_minutes
        policy.updated_by = by
        policy.updated_at = timezone.now()
        policy.save()
        policy.levels.all().delete()
        for position, data in enumerate(levels, start=1):
            level = EscalationLevel.objects.create(
                policy=policy,
                position=position,
                name=data["name"],
                delay_minutes=data["delay_minutes"],
                group=data.get("group"),
                rotation=data.get("rotation"),
                channels=list(data.get("channels") or []),
            )
            level.users.set(data.get("users") or [])
    return policy


def save_rotation(rotation: OnCallRotation, members: list) -> OnCallRotation:
    with transaction.atomic():
        rotation.full_clean()
        rotation.save()
        rotation.members.all().delete()
        RotationMember.objects.bulk_create(
            RotationMember(rotation=rotation, user=user, position=n)
            for n, user in enumerate(members)
        )
    return rotation


def add_override(
    rotation: OnCallRotation,
    *,
    user: AbstractBaseUser,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    by: AbstractBaseUser,
) -> RotationOverride:
    if ends_at <= starts_at:
        raise ActionError("The override must end after it starts.")
    return RotationOverride.objects.create(
        rotation=rotation,
        user=user,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=reason,
        created_by=by,
    )


# -- runbook proposals ---------------------------------------------------------------------
def proposal_targets(proposal: Proposal) -> list[tuple[str, int]]:
    """(severity, acknowledgement minutes) rows of a severity table (runbook 001's kind)."""
    rows = []
    for level in proposal.payload.get("levels", []):
        severity, minutes = level.get("severity"), level.get("response_minutes")
        if severity in Severity.values and minutes:
            rows.append((severity, int(minutes)))
    return rows


def proposal_ladder(proposal: Proposal) -> list[dict]:
    """A ladder's levels as the level form's initial data, for a lead to check and complete
    with targets. Delays: the first level at once; a later one when the level before it ran
    out of time (its response time), or at its own time when that came first ("30+ min",
    "1hr+")."""
    initial, previous_delay, previous_response = [], 0, None
    for index, level in enumerate(proposal.payload.get("levels", [])):
        if level.get("severity"):
            continue
        response = level.get("response_minutes")
        if index == 0:
            delay = 0
        elif previous_response is not None and previous_response > previous_delay:
            delay = previous_response
        elif response is not None and response > previous_delay:
            delay = response
        else:
            delay = previous_delay
        name = level.get("name", "").strip()
        notify = level.get("notify", "").strip()
        label = f"{name} · {notify}" if name and notify else name or notify or f"Level {index + 1}"
        initial.append(
            {"name": label[:120], "delay_minutes": delay, "channels": ["email", "slack"]}
        )
        previous_delay, previous_response = delay, response
    return initial


def accept_targets(proposal: Proposal, *, by: AbstractBaseUser) -> list[EscalationPolicy]:
    """Set each listed severity's acknowledgement target; ladders stay as they are."""
    changed = []
    with transaction.atomic():
        proposal = _open_proposal(proposal)
        for severity, minutes in proposal_targets(proposal):
            policy, _ = EscalationPolicy.objects.select_for_update().get_or_create(
                severity=severity, defaults={"ack_minutes": minutes}
            )
            policy.ack_minutes = minutes
            policy.updated_by = by
            policy.updated_at = timezone.now()
            policy.save()
            changed.append(policy)
        if not changed:
            raise ActionError("This proposal lists no severity with a response time.")
        _decide(proposal, by)
    return changed


def accept_ladder(
    proposal: Proposal, *, severity: str, ack_minutes: int, levels: list[dict], by: AbstractBaseUser
) -> EscalationPolicy:
    with transaction.atomic():
        proposal = _open_proposal(proposal)
        policy, _ = EscalationPolicy.objects.get_or_create(
            severity=severity, defaults={"ack_minutes": ack_minutes}
        )
        save_policy(policy, ack_minutes=ack_minutes, levels=levels, by=by)
        _decide(proposal, by)
    return policy


def _open_proposal(proposal: Proposal) -> Proposal:
    proposal = Proposal.objects.select_for_update().get(pk=proposal.pk)
    if proposal.kind != Proposal.Kind.ESCALATION_POLICY:
        raise ActionError("This is not an escalation policy proposal.")
    if proposal.status != Proposal.Status.PROPOSED:
        raise ActionError(f"This proposal was already {proposal.get_status_display().lower()}.")
    return proposal


def _decide(proposal: Proposal, by: AbstractBaseUser) -> None:
    proposal.status = Proposal.Status.ACCEPTED
    proposal.decided_by = by
    proposal.decided_at = timezone.now()
    proposal.save(update_fields=["status", "decided_by", "decided_at"])
