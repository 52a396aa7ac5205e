"""Accepting a runbook's `comms_template` proposal: it becomes a CommsTemplate."""

from __future__ import annotations

import re

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from incidents.actions import ActionError
from incidents.statuspage.models import CommsTemplate
from runbooks.models import Proposal

SEVERITY_IN_NAME = re.compile(r"\b(P[0-3])\b")


def acceptable(proposal: Proposal) -> bool:
    return (
        proposal.kind == Proposal.Kind.COMMS_TEMPLATE
        and proposal.status == Proposal.Status.PROPOSED
        and bool(str(proposal.payload.get("content", "")).strip())
    )


def accept(proposal: Proposal, *, by: AbstractBaseUser) -> CommsTemplate:
    with transaction.atomic():
        locked = (
            Proposal.objects.select_for_update()
            .select_related("version__runbook")
            .get(pk=proposal.pk)
        )
        if locked.status != Proposal.Status.PROPOSED:
            raise ActionError(f"This proposal was already {locked.get_status_display().lower()}.")
        if not acceptable(locked):
            raise ActionError("This proposal has no template text.")
        name = str(locked.payload.get("name") or locked.title).strip()[:150]
        found = SEVERITY_IN_NAME.search(name)
        template = CommsTemplate.objects.create(
            name=f"{name} · {locked.version.runbook.title}"[:200],
            body=str(locked.payload["content"]).strip(),
            severity=found.group(1) if found else "",
            origin=CommsTemplate.Origin.RUNBOOK,
            proposal=locked,
            source=locked.source,
            created_by=by,
        )
        locked.status = Proposal.Status.ACCEPTED
        locked.decided_by = by
        locked.decided_at = timezone.now()
        locked.save(update_fields=["status", "decided_by", "decided_at"])
    return template
