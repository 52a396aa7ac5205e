"""The profile's paging section: contact methods (add, send a code, verify, remove), the
high- and low-urgency notification rules, and "Send me a test page". Each person edits only
their own; anyone in a console group may. htmx requests get the section back; others a
redirect to the profile with a message."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from incidents.escalation import verification
from incidents.escalation.contacts import (
    ContactMethod,
    NotificationRule,
    Urgency,
    normalise_address,
)
from incidents.permissions import require_perm

MAX_STEPS = 6
RESEND_AFTER = timedelta(seconds=30)


class MethodForm(forms.Form):
    kind = forms.ChoiceField(choices=ContactMethod.Kind.choices)
    address = forms.CharField(max_length=200)

    def clean(self):
        data = super().clean()
        if "kind" in data and "address" in data:
            try:
                data["address"] = normalise_address(data["kind"], data["address"])
            except ValidationError as exc:
                self.add_error("address", exc)
        return data


def paging_context(user, **extra) -> dict:
    """What the section shows: two queries (methods, rules)."""
    methods = list(ContactMethod.objects.filter(user=user).order_by("kind", "id"))
    rules = list(
        NotificationRule.objects.filter(user=user)
        .select_related("method")
        .order_by("delay_minutes", "id")
    )
    verified = [m for m in methods if m.verified]
    urgencies = []
    for urgency in Urgency:
        mine = [r for r in rules if r.urgency == urgency]
        rows = [{"method_id": r.method_id, "minutes": r.delay_minutes} for r in mine]
        rows += [{"method_id": None, "minutes": ""}] * (MAX_STEPS - len(rows))
        urgencies.append(
            {
                "value": urgency.value,
                "label": urgency.label,
                "rules": mine,
                "rows": rows[:MAX_STEPS],
            }
        )
    return {
        "methods": methods,
        "verified_methods": verified,
        "urgencies": urgencies,
        "kinds": ContactMethod.Kind.choices,
        "method_form": MethodForm(),
        **extra,
    }


# Refusals come back as 422 with the section, which htmx swaps in (base.html's
# responseHandling), so the reason shows where the person is looking.
def _section(
    request: HttpRequest, message: str = "", error: str = "", status: int = 200, **extra
) -> HttpResponse:
    if request.htmx:
        context = paging_context(request.user, notice=message, problem=error, **extra)
        return render(request, "incidents/_paging_contacts.html", context, status=status)
    if error:
        messages.error(request, error)
    elif message:
        messages.success(request, message)
    return redirect("/incidents/profile/#paging")


def _own(request: HttpRequest, pk: int) -> ContactMethod:
    require_perm(request, "incidents.view_incident")
    # Someone else's method is a 404, as if it did not exist.
    return get_object_or_404(ContactMethod, pk=pk, user=request.user)


@login_required
@require_POST
def method_add(request: HttpRequest) -> HttpResponse:
    require_perm(request, "incidents.view_incident")
    form = MethodForm(request.POST)
    if not form.is_valid():
        errors = " ".join(e for errs in form.errors.values() for e in errs)
        return _section(request, error=errors, status=422, method_form=form)
    try:
        with transaction.atomic():
            method = ContactMethod.objects.create(
                user=request.user,
                kind=form.cleaned_data["kind"],
                address=form.cleaned_data["address"],
            )
    except IntegrityError:
        return _section(request, error="You have that contact method already.", status=422)
    problem = verification.send_code(method)
    if problem:
        return _section(
            request, error=f"Added, but the code could not be sent: {problem}", status=422
        )
    return _section(request, f"Code sent to {method.address}: type it in to verify.")


@login_required
@require_POST
def method_send_code(request: HttpRequest, pk: int) -> HttpResponse:
    method = _own(request, pk)
    if method.verified:
        return _section(request, error="That method is verified already.", status=422)
    if method.code_sent_at and timezone.now() - method.code_sent_at < RESEND_AFTER:
        # Every code is a text or a call someone pays for.
        wait = RESEND_AFTER - (timezone.now() - method.code_sent_at)
        return _section(
            request,
            error=f"A code was sent moments ago; ask again in {int(wait.total_seconds()) + 1} s.",
            status=422,
        )
    problem = verification.send_code(method)
    if problem:
        return _section(request, error=f"The code could not be sent: {problem}", status=422)
    return _section(request, f"A new code was sent to {method.address}.")


@login_required
@require_POST
def method_verify(request: HttpRequest, pk: int) -> HttpResponse:
    method = _own(request, pk)
    code = request.POST.get("code", "")
    if not code.strip().isdigit():
        return _section(request, error="Type the six digits of the code.", status=422)
    with transaction.atomic():
        method = ContactMethod.objects.select_for_update().get(pk=method.pk)
        problem = method.check_code(code)
        try:
            with transaction.atomic():
                method.save(update_fields=["verified_at", "code_digest", "code_attempts"])
        except IntegrityError:
            problem = f"{method.address} is already verified by someone else."
    if problem:
        return _section(request, error=problem, status=422)
    return _section(request, f"{method.get_kind_display()} {method.address} verified.")


@login_required
@require_POST
def method_delete(request: HttpRequest, pk: int) -> HttpResponse:
    method = _own(request, pk)
    method.delete()  # its rules go with it
    return _section(request, f"{method.get_kind_display()} {method.address} removed.")


@login_required
@require_POST
def rules_save(request: HttpRequest, urgency: str) -> HttpResponse:
    require_perm(request, "incidents.view_incident")
    if urgency not in Urgency.values:
        return _section(request, error="No such urgency.", status=404)
    mine = {m.pk: m for m in ContactMethod.objects.filter(user=request.user)}
    steps: list[tuple[ContactMethod, int]] = []
    methods = request.POST.getlist("method")
    minutes = request.POST.getlist("minutes")
    if len(methods) != len(minutes) or len(methods) > MAX_STEPS:
        return _section(request, error="The rules form is malformed.", status=422)
    for n, (method_id, delay) in enumerate(zip(methods, minutes, strict=True), start=1):
        if not method_id:
            continue
        method = mine.get(int(method_id)) if method_id.isdigit() else None
        if method is None:
            return _section(request, error=f"Step {n}: not one of your methods.", status=422)
        if not method.verified:
            return _section(request, error=f"Step {n}: verify {method.address} first.", status=422)
        if not delay.strip().isdigit() or int(delay) > 1440:
            return _section(
                request, error=f"Step {n}: minutes after being paged, 0 to 1440.", status=422
            )
        steps.append((method, int(delay)))
    with transaction.atomic():
        NotificationRule.objects.filter(user=request.user, urgency=urgency).delete()
        for method, delay in dict.fromkeys((m.pk, d) for m, d in steps):
            NotificationRule.objects.create(
                user=request.user, urgency=urgency, method=mine[method], delay_minutes=delay
            )
    label = Urgency(urgency).label
    if not steps:
        return _section(request, f"{label}: no rules of your own, the defaults apply.")
    return _section(request, f"{label} rules saved.")


@login_required
@require_POST
def test_page(request: HttpRequest) -> HttpResponse:
    require_perm(request, "incidents.view_incident")
    results = verification.test_page(request.user)
    if not results:
        return _section(request, error="Verify a contact method first.", status=422)
    failed = [f"{m.get_kind_display()} {m.address}: {err}" for m, err in results if err]
    sent = [f"{m.get_kind_display()} {m.address}" for m, err in results if not err]
    if failed:
        also = f". Sent to {', '.join(sent)}." if sent else ""
        return _section(
            request, error="Test page failed for " + "; ".join(failed) + also, status=422
        )
    return _section(request, f"Test page sent to {', '.join(sent)}.")
