"""Turning a runbook's probe proposals into probes, when a lead accepts them.

Two kinds come from the importer: `probe` (a health-check URL, or a row of a metrics table
with its alert threshold) and `step_checks` (steps whose code is a check, see
probes.recognise). Accepting creates paused probes — they run when someone asks ("Run now",
"Run check") until a lead turns their schedule on — and, for step checks, binds each step's
command to its probe for this runbook, once, for every version that carries the command.
"""

from __future__ import annotations

import re

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from incidents.actions import ActionError
from probes.checkers import CHECKERS
from probes.models import Probe, StepCheck
from runbooks.models import Proposal

NUMBER = re.compile(r"\d+(?:\.\d+)?")


def metric_probe(payload: dict) -> tuple[str, dict] | None:
    """A metrics-table row the console can measure itself: (kind, config), else None."""
    metric = str(payload.get("metric", "")).lower()
    normal = [float(n) for n in NUMBER.findall(str(payload.get("normal", "")))]
    alert = [float(n) for n in NUMBER.findall(str(payload.get("alert_threshold", "")))]
    if "connection" in metric and "database" in metric and alert:
        config = {"dsn_env": "DATABASE_URL", "connections_crit": int(alert[0])}
        if normal:
            config["connections_warn"] = int(normal[0])
        return "postgres", config
    if "payment" in metric and "success" in metric and alert:
        return "stripe", {"api_key_env": "STRIPE_SECRET_KEY", "success_rate_min": alert[0]}
    return None


def probe_spec(proposal: Proposal) -> tuple[str, dict, str] | None:
    """(kind, config, name) for a `probe` proposal, or None if nothing here can run it."""
    payload = proposal.payload
    if payload.get("type") == "http" and payload.get("url"):
        kind, config = "http", {"url": payload["url"], "method": payload.get("method", "GET")}
    elif payload.get("type") == "metric_threshold":
        found = metric_probe(payload)
        if found is None:
            return None
        kind, config = found
    else:
        return None
    try:
        config = CHECKERS[kind].clean(config)
    except ValidationError:
        return None
    return kind, config, proposal.title


def acceptable(proposal: Proposal) -> bool:
    if proposal.status != Proposal.Status.PROPOSED:
        return False
    if proposal.kind == Proposal.Kind.STEP_CHECKS:
        return bool(proposal.payload.get("checks"))
    if proposal.kind == Proposal.Kind.PROBE:
        return probe_spec(proposal) is not None
    return False


def probe_for(kind: str, config: dict, name: str) -> tuple[Probe, bool]:
    """The probe running exactly this check (shared between runbooks), or a new paused one."""
    for probe in Probe.objects.filter(kind=kind).only("pk", "config", "name"):
        if probe.config == config:
            return Probe.objects.get(pk=probe.pk), False
    base = " ".join(name.split())[:110] or f"{kind} check"
    unique, number = base, 2
    while Probe.objects.filter(name=unique).exists():
        unique = f"{base} ({number})"
        number += 1
    probe = Probe(name=unique, kind=kind, config=config, enabled=False)
    probe.full_clean()
    probe.save()
    return probe, True


def accept(proposal: Proposal, *, by: AbstractBaseUser) -> list[Probe]:
    """Create (or reuse) the proposal's probes; returns the probes created."""
    with transaction.atomic():
        locked = Proposal.objects.select_for_update().select_related("version").get(pk=proposal.pk)
        if locked.status != Proposal.Status.PROPOSED:
            raise ActionError(f"This proposal was already {locked.get_status_display().lower()}.")
        if not acceptable(locked):
            raise ActionError("Nothing the console can run comes from this proposal.")
        created: list[Probe] = []
        if locked.kind == Proposal.Kind.STEP_CHECKS:
            runbook_id = locked.version.runbook_id
            for check in locked.payload["checks"]:
                probe, new = probe_for(check["kind"], check["config"], check["label"])
                created += [probe] if new else []
                StepCheck.objects.get_or_create(
                    runbook_id=runbook_id,
                    key=check["key"],
                    defaults={"command": check["command"], "probe": probe, "accepted_by": by},
                )
        else:
            kind, config, name = probe_spec(locked)
            probe, new = probe_for(kind, config, name)
            created += [probe] if new else []
        locked.status = Proposal.Status.ACCEPTED
        locked.decided_by = by
        locked.decided_at = timezone.now()
        locked.save(update_fields=["status", "decided_by", "decided_at"])
    return created


def dismiss(proposal: Proposal, *, by: AbstractBaseUser) -> None:
    changed = Proposal.objects.filter(pk=proposal.pk, status=Proposal.Status.PROPOSED).update(
        status=Proposal.Status.DISMISSED, decided_by=by, decided_at=timezone.now()
    )
    if not changed:
        raise ActionError("This proposal was already decided.")
