"""Deciding on what a runbook import proposed: accept (create what it describes) or dismiss.

Probes and step checks are accepted by whoever may add probes (leads); any proposal can be
dismissed by whoever may import runbooks. Plain form posts: the runbook page reloads with a
message saying what was created.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from incidents.actions import ActionError
from probes import proposals
from runbooks.models import Proposal


def _proposal(request: HttpRequest, pk: int, perm: str) -> Proposal:
    if not request.user.has_perm(perm):
        raise PermissionDenied
    return get_object_or_404(Proposal.objects.select_related("version__runbook"), pk=pk)


def _back(proposal: Proposal) -> HttpResponse:
    return redirect(f"{proposal.version.get_absolute_url()}#proposal-{proposal.pk}")


@login_required
@require_POST
def accept(request: HttpRequest, pk: int) -> HttpResponse:
    kind = get_object_or_404(Proposal.objects.values_list("kind", flat=True), pk=pk)
    if kind == Proposal.Kind.COMMS_TEMPLATE:
        return accept_comms_template(request, pk)
    proposal = _proposal(request, pk, "probes.add_probe")
    try:
        created = proposals.accept(proposal, by=request.user)
    except ActionError as exc:
        messages.error(request, str(exc))
        return _back(proposal)
    if proposal.kind == Proposal.Kind.STEP_CHECKS:
        count = len(proposal.payload["checks"])
        messages.success(
            request,
            f"{count} step check{'s' if count != 1 else ''} bound "
            f"({len(created)} new probe{'s' if len(created) != 1 else ''}, paused until "
            "scheduled): incidents following this runbook can now run them.",
        )
    else:
        messages.success(
            request,
            f"Probe {created[0].name!r} created, paused until scheduled."
            if created
            else "A probe running this check already exists.",
        )
    return _back(proposal)


def accept_comms_template(request: HttpRequest, pk: int) -> HttpResponse:
    from incidents.statuspage import proposals as comms

    proposal = _proposal(request, pk, "incidents.add_commstemplate")
    try:
        template = comms.accept(proposal, by=request.user)
    except ActionError as exc:
        messages.error(request, str(exc))
        return _back(proposal)
    messages.success(
        request, f"Comms template “{template.name}” created: communicators can start from it."
    )
    return _back(proposal)


@login_required
@require_POST
def dismiss(request: HttpRequest, pk: int) -> HttpResponse:
    proposal = _proposal(request, pk, "runbooks.import_runbook")
    try:
        proposals.dismiss(proposal, by=request.user)
    except ActionError as exc:
        messages.error(request, str(exc))
    return _back(proposal)
