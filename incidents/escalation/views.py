"""Escalation pages: the policies (a ladder per severity) and their form, on-call rotations
(who is on call now, the rotation form, overrides), accepting a runbook's proposed policy,
the incident page's "Escalate now", and each person's notification profile."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from console.formtoken import one_time_form
from incidents.actions import ActionError
from incidents.escalation import engine, policies
from incidents.escalation.forms import (
    LevelFormSet,
    OverrideForm,
    PolicyForm,
    ProfileForm,
    RotationForm,
    level_initial,
)
from incidents.escalation.models import (
    EscalationLevel,
    EscalationPolicy,
    NotificationProfile,
    OnCallRotation,
    RotationMember,
    RotationOverride,
)
from incidents.models import SEVERITY_MEANINGS, Severity
from incidents.permissions import get_incident_for_user, require_perm
from incidents.views.changes import _changed, _refused
from runbooks.models import Proposal

UPCOMING = timedelta(days=14)


@login_required
@require_POST
def escalate_now(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_incident_for_user(request, pk, "incidents.escalate_incident")
    try:
        level = engine.escalate_now(incident, by=request.user)
    except ActionError as exc:
        return _refused(request, incident, str(exc))
    return _changed(request, incident, f"Level {level} paged.")


# -- policies --------------------------------------------------------------------------------
@login_required
@require_safe
def policy_list(request: HttpRequest) -> HttpResponse:
    require_perm(request, "incidents.view_escalationpolicy")
    levels = EscalationLevel.objects.select_related("group", "rotation").prefetch_related("users")
    found = {
        p.severity: p
        for p in EscalationPolicy.objects.select_related("updated_by").prefetch_related(
            Prefetch("levels", queryset=levels)
        )
    }
    rows = [
        {"severity": sev, "meaning": SEVERITY_MEANINGS[sev], "policy": found.get(sev.value)}
        for sev in Severity
    ]
    return render(request, "incidents/escalation_policies.html", {"rows": rows, "nav": "oncall"})


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def policy_edit(request: HttpRequest, severity: str) -> HttpResponse:
    require_perm(request, "incidents.change_escalationpolicy")
    if severity not in Severity.values:
        return HttpResponse("No such severity", status=404, content_type="text/plain")
    policy, _ = EscalationPolicy.objects.get_or_create(
        severity=severity, defaults={"ack_minutes": 60}
    )
    if request.method == "POST":
        form = PolicyForm(request.POST)
        formset = LevelFormSet(request.POST, prefix="levels")
        if form.is_valid() and formset.is_valid():
            policies.save_policy(
                policy,
                ack_minutes=form.cleaned_data["ack_minutes"],
                levels=formset.levels(),
                by=request.user,
            )
            messages.success(
                request, f"{severity} policy saved. Incidents already running keep their ladder."
            )
            return redirect(f"/incidents/escalation/#policy-{severity}")
        status = 422
    else:
        form = PolicyForm(initial={"ack_minutes": policy.ack_minutes})
        levels = policy.levels.select_related("group", "rotation").prefetch_related("users")
        formset = LevelFormSet(initial=[level_initial(lv) for lv in levels], prefix="levels")
        status = 200
    context = {
        "policy": policy,
        "severity": Severity(severity),
        "form": form,
        "formset": formset,
        "nav": "oncall",
    }
    return render(request, "incidents/escalation_policy_form.html", context, status=status)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def proposal_accept(request: HttpRequest, pk: int) -> HttpResponse:
    """Map a runbook's proposed escalation policy onto the console's policies."""
    require_perm(request, "incidents.change_escalationpolicy")
    proposal = get_object_or_404(
        Proposal.objects.select_related("version__runbook"),
        pk=pk,
        kind=Proposal.Kind.ESCALATION_POLICY,
    )
    targets = policies.proposal_targets(proposal)
    back = f"{proposal.version.get_absolute_url()}#proposal-{proposal.pk}"
    form = PolicyForm(initial={"ack_minutes": 15})
    formset = None
    severity = request.POST.get("severity") or request.GET.get("severity") or "P0"
    if severity not in Severity.values:
        return HttpResponse("No such severity", status=400, content_type="text/plain")
    status = 200
    if not targets:
        formset = LevelFormSet(initial=policies.proposal_ladder(proposal), prefix="levels")
    if request.method == "POST":
        try:
            if targets:
                changed = policies.accept_targets(proposal, by=request.user)
                messages.success(
                    request,
                    "Acknowledgement targets set: "
                    + ", ".join(f"{p.severity} {p.ack_minutes} min" for p in changed),
                )
                return redirect(back)
            form = PolicyForm(request.POST)
            formset = LevelFormSet(request.POST, prefix="levels")
            if form.is_valid() and formset.is_valid():
                policies.accept_ladder(
                    proposal,
                    severity=severity,
                    ack_minutes=form.cleaned_data["ack_minutes"],
                    levels=formset.levels(),
                    by=request.user,
                )
                messages.success(request, f"The {severity} escalation policy now follows it.")
                return redirect(f"/incidents/escalation/#policy-{severity}")
            status = 422
        except ActionError as exc:
            messages.error(request, str(exc))
            return redirect(back)
    context = {
        "proposal": proposal,
        "targets": targets,
        "form": form,
        "formset": formset,
        "severity": severity,
        "severity_choices": Severity.choices,
        "nav": "oncall",
    }
    return render(request, "incidents/escalation_proposal.html", context, status=status)


# -- on call ---------------------------------------------------------------------------------
@login_required
@require_safe
def on_call(request: HttpRequest) -> HttpResponse:
    """Who is on call in each rotation now, the next handoff, upcoming overrides: three
    queries however many rotations, members and overrides."""
    require_perm(request, "incidents.view_oncallrotation")
    now = timezone.now()
    rotations = OnCallRotation.objects.prefetch_related(
        Prefetch(
            "members",
            queryset=RotationMember.objects.select_related("user").order_by("position"),
        ),
        Prefetch(
            "overrides",
            queryset=RotationOverride.objects.filter(ends_at__gt=now)
            .select_related("user")
            .order_by("starts_at", "id"),
        ),
    )
    cards = []
    for rotation in rotations:
        members = [m.user for m in rotation.members.all()]
        overrides = list(rotation.overrides.all())
        _, start, end = rotation.shift_at(now)
        current = rotation.on_call_at(now, members, overrides)
        cards.append(
            {
                "rotation": rotation,
                "members": members,
                "now": current,
                "scheduled": rotation.scheduled_at(now, members),
                "shift_start": start,
                "handoff": end,
                "next": rotation.on_call_at(end, members, overrides),
                "overrides": [o for o in overrides if o.starts_at < now + UPCOMING],
            }
        )
    return render(request, "incidents/oncall.html", {"cards": cards, "now": now, "nav": "oncall"})


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
@one_time_form
def rotation_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    if pk is None:
        require_perm(request, "incidents.add_oncallrotation")
        rotation = OnCallRotation(starts_on=timezone.localdate())
    else:
        require_perm(request, "incidents.change_oncallrotation")
        rotation = get_object_or_404(OnCallRotation, pk=pk)
    members = "\n".join(u.username for u in rotation.ordered_members()) if rotation.pk else ""
    if request.method == "POST":
        form = RotationForm(request.POST, instance=rotation)
        if form.is_valid():
            rotation = policies.save_rotation(form.save(commit=False), form.cleaned_data["members"])
            messages.success(request, f"Rotation {rotation.name} saved.")
            return redirect("incidents:rotation_edit", pk=rotation.pk)
        status = 422
    else:
        form = RotationForm(instance=rotation, initial={"members": members})
        status = 200
    context = {
        "rotation": rotation if rotation.pk else None,
        "form": form,
        "override_form": OverrideForm(rotation=rotation) if rotation.pk else None,
        "overrides": (
            list(rotation.overrides.filter(ends_at__gt=timezone.now()).select_related("user"))
            if rotation.pk
            else []
        ),
        "nav": "oncall",
    }
    return render(request, "incidents/rotation_form.html", context, status=status)


@login_required
@require_POST
@one_time_form
def override_add(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request, "incidents.change_oncallrotation")
    rotation = get_object_or_404(OnCallRotation, pk=pk)
    form = OverrideForm(request.POST, rotation=rotation)
    if not form.is_valid():
        context = {
            "rotation": rotation,
            "form": RotationForm(
                instance=rotation,
                initial={"members": "\n".join(u.username for u in rotation.ordered_members())},
            ),
            "override_form": form,
            "overrides": list(
                rotation.overrides.filter(ends_at__gt=timezone.now()).select_related("user")
            ),
            "nav": "oncall",
        }
        return render(request, "incidents/rotation_form.html", context, status=422)
    data = form.cleaned_data
    policies.add_override(
        rotation,
        user=data["user"],
        starts_at=data["starts_at"],
        ends_at=data["ends_at"],
        reason=data["reason"],
        by=request.user,
    )
    messages.success(request, f"{data['user'].username} covers {rotation.name}.")
    return redirect("incidents:rotation_edit", pk=rotation.pk)


@login_required
@require_POST
def override_delete(request: HttpRequest, pk: int, override_id: int) -> HttpResponse:
    require_perm(request, "incidents.change_oncallrotation")
    override = get_object_or_404(RotationOverride, pk=override_id, rotation_id=pk)
    override.delete()
    messages.success(request, "Override removed.")
    return redirect("incidents:rotation_edit", pk=pk)


# -- profile ---------------------------------------------------------------------------------
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    """Where the signed-in person is paged. Anyone in a console group edits their own."""
    require_perm(request, "incidents.view_incident")
    current = NotificationProfile.objects.filter(user=request.user).first()
    current = current or NotificationProfile(user=request.user)
    if request.method == "POST":
        form = ProfileForm(request.POST, instance=current)
        if form.is_valid():
            form.save()
            messages.success(request, "Notification profile saved.")
            return redirect("incidents:profile")
        status = 422
    else:
        form = ProfileForm(instance=current)
        status = 200
    return render(
        request, "incidents/profile.html", {"form": form, "nav": "profile"}, status=status
    )
