"""Review pages: the list, one review (edit, workflow, action items), its exports, the action
items across incidents and the JSON schema."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from console.formtoken import one_time_form
from console.htmx import wants_part
from incidents.actions import ActionError
from incidents.forms import responders
from incidents.models import Severity
from incidents.permissions import require_perm
from incidents.reviews import actions
from incidents.reviews.drafting import drafted_timeline, impact_moments, runbook_feedback
from incidents.reviews.export import (
    FORMATS,
    SCHEMA_PATH,
    export_filename,
    review_document,
    to_json,
    to_markdown,
    to_pdf,
)
from incidents.reviews.models import TEXT_SECTIONS, ActionItem, PostIncidentReview

State = PostIncidentReview.State


def get_review_for_user(request: HttpRequest, pk: int, perm: str | None = None):
    """The review of incident pk, or 404, or 403 when the user may not read it / do perm."""
    require_perm(request, "incidents.view_postincidentreview")
    if perm:
        require_perm(request, perm)
    return get_object_or_404(
        PostIncidentReview.objects.select_related("incident", "updated_by", "published_by"),
        incident_id=pk,
    )


class ReviewFilterForm(forms.Form):
    STATE_CHOICES = [("", "Any state"), *State.choices]
    state = forms.ChoiceField(choices=STATE_CHOICES, required=False)
    severity = forms.ChoiceField(choices=[("", "Any severity"), *Severity.choices], required=False)
    overdue = forms.BooleanField(required=False)


class ReviewForm(forms.ModelForm):
    class Meta:
        model = PostIncidentReview
        fields = [name for name, _ in TEXT_SECTIONS] + [
            "impact_started_at",
            "users_affected",
            "customer_facing",
        ]
        widgets = {
            name: forms.Textarea(attrs={"rows": 4 if name != "summary" else 3})
            for name, _ in TEXT_SECTIONS
        } | {
            "impact_started_at": forms.DateTimeInput(
                attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
            ),
        }


class ActionItemForm(forms.ModelForm):
    link = forms.URLField(required=False, assume_scheme="https", max_length=500)

    class Meta:
        model = ActionItem
        fields = ["title", "owner", "due_date", "link"]
        widgets = {"due_date": forms.DateInput(attrs={"type": "date"})}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = responders()


@login_required
@require_GET
def review_list(request: HttpRequest) -> HttpResponse:
    require_perm(request, "incidents.view_postincidentreview")
    form = ReviewFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    now = timezone.now()
    reviews = PostIncidentReview.objects.select_related("incident").prefetch_related(
        "incident__services"
    )
    if filters.get("state"):
        reviews = reviews.filter(state=filters["state"])
    if filters.get("severity"):
        reviews = reviews.filter(incident__severity=filters["severity"])
    if filters.get("overdue"):
        reviews = reviews.filter(required=True, due_at__lt=now).exclude(state=State.PUBLISHED)
    reviews = reviews.order_by("state", "due_at", "-opened_at")
    page = Paginator(reviews, 50).get_page(request.GET.get("page"))
    overdue_count = (
        PostIncidentReview.objects.filter(required=True, due_at__lt=now)
        .exclude(state=State.PUBLISHED)
        .count()
    )
    context = {
        "form": form,
        "page": page,
        "now": now,
        "overdue_count": overdue_count,
        "nav": "reviews",
    }
    template = (
        "incidents/reviews.html#review-table" if wants_part(request) else "incidents/reviews.html"
    )
    return render(request, template, context)


def _review_context(request, review, form=None, item_form=None) -> dict:
    events = drafted_timeline(review)
    return {
        "review": review,
        "incident": review.incident,
        "form": form or ReviewForm(instance=review),
        "item_form": item_form or ActionItemForm(),
        "events": events,
        "moments": impact_moments(review, events),
        "feedback": runbook_feedback(review),
        "checklist": review.checklist.select_related("done_by"),
        "action_items": review.action_items.select_related("owner").order_by("id"),
        "revisions": review.revisions.select_related("published_by"),
        "item_statuses": ActionItem.Status.choices,
        "can_edit": request.user.has_perm("incidents.change_postincidentreview")
        and not review.is_published,
        "can_publish": request.user.has_perm("incidents.publish_review"),
        "can_revise": request.user.has_perm("incidents.change_postincidentreview"),
        "now": timezone.now(),
        "today": timezone.localdate(),
        "nav": "reviews",
    }


@login_required
def review_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """GET shows the review (a form while it is editable); POST saves every section, the
    timeline choices and the checklist at once."""
    review = get_review_for_user(request, pk)
    if request.method == "GET":
        return render(request, "incidents/review.html", _review_context(request, review))
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    require_perm(request, "incidents.change_postincidentreview")
    form = ReviewForm(request.POST, instance=PostIncidentReview.objects.get(pk=review.pk))
    if not form.is_valid():
        context = _review_context(request, review, form=form)
        return render(request, "incidents/review.html", context, status=422)
    entries = {}
    for key in request.POST:
        if key.startswith("event-"):
            try:
                event_id = int(key.removeprefix("event-"))
            except ValueError:
                continue
            entries[event_id] = (
                request.POST.get(f"shown-{event_id}") == "on",
                request.POST.get(f"annotation-{event_id}", "").strip()[:2000],
            )
    ticked = {int(v) for v in request.POST.getlist("ticked") if v.isdigit()}
    try:
        actions.save_review(
            review, by=request.user, fields=form.cleaned_data, entries=entries, ticked=ticked
        )
    except ActionError as exc:
        messages.error(request, str(exc))
        return render(
            request, "incidents/review.html", _review_context(request, review), status=409
        )
    messages.success(request, "Review saved.")
    return redirect(review)


@login_required
@require_POST
def review_state(request: HttpRequest, pk: int) -> HttpResponse:
    review = get_review_for_user(request, pk, "incidents.change_postincidentreview")
    step = request.POST.get("to", "")
    try:
        if step == "in_review":
            actions.submit_for_review(review, by=request.user)
            messages.success(request, "Sent for review.")
        elif step == "draft":
            actions.back_to_draft(review, by=request.user)
            messages.success(request, "Back to draft.")
        elif step == "published":
            require_perm(request, "incidents.publish_review")
            revision = actions.publish(review, by=request.user)
            messages.success(request, f"Revision {revision.number} published.")
        elif step == "revise":
            actions.start_revision(review, by=request.user)
            messages.success(request, "A new revision is open for editing.")
        else:
            return JsonResponse({"error": f"unknown step {step!r}"}, status=400)
    except ActionError as exc:
        messages.error(request, str(exc))
        return render(
            request, "incidents/review.html", _review_context(request, review), status=409
        )
    return redirect(review)


@login_required
@require_POST
@one_time_form
def action_item_add(request: HttpRequest, pk: int) -> HttpResponse:
    review = get_review_for_user(request, pk, "incidents.change_postincidentreview")
    form = ActionItemForm(request.POST)
    if form.is_valid():
        try:
            actions.add_action_item(review, by=request.user, **form.cleaned_data)
        except ActionError as exc:
            messages.error(request, str(exc))
            return render(
                request, "incidents/review.html", _review_context(request, review), status=409
            )
        messages.success(request, "Action item added.")
        return redirect(review)
    context = _review_context(request, review, item_form=form)
    return render(request, "incidents/review.html", context, status=422)


@login_required
@require_POST
def action_item_status(request: HttpRequest, pk: int, item_id: int) -> HttpResponse:
    review = get_review_for_user(request, pk, "incidents.change_postincidentreview")
    item = get_object_or_404(ActionItem, pk=item_id, review=review)
    status = request.POST.get("status", "")
    if status not in ActionItem.Status.values:
        return JsonResponse({"error": f"unknown status {status!r}"}, status=400)
    try:
        actions.set_action_item_status(item, status=status, by=request.user)
    except ActionError as exc:
        messages.error(request, str(exc))
    next_url = request.POST.get("next", "")
    if next_url == "items":
        return redirect("incidents:action_items")
    return redirect(review)


@login_required
@require_GET
def review_export(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    review = get_review_for_user(request, pk)
    if fmt not in FORMATS:
        raise Http404(f"No export format {fmt!r}; use md, json or pdf.")
    doc = review_document(review)
    name = export_filename(doc, fmt)
    if fmt == "json":
        response = HttpResponse(to_json(doc), content_type="application/json; charset=utf-8")
    elif fmt == "md":
        response = HttpResponse(to_markdown(doc), content_type="text/markdown; charset=utf-8")
    else:
        response = HttpResponse(to_pdf(doc), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
@require_GET
def revision_json(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    review = get_review_for_user(request, pk)
    revision = get_object_or_404(review.revisions, number=number)
    return HttpResponse(to_json(revision.content), content_type="application/json")


@login_required
@require_GET
def action_items(request: HttpRequest) -> HttpResponse:
    require_perm(request, "incidents.view_postincidentreview")
    show = request.GET.get("show", "open")
    if show not in ("open", "overdue", "all"):
        show = "open"
    today = timezone.localdate()
    items = ActionItem.objects.select_related("owner", "review__incident")
    if show == "open":
        items = items.open()
    elif show == "overdue":
        items = items.overdue(today)
    page = Paginator(items.order_by("due_date", "id"), 100).get_page(request.GET.get("page"))
    counts = {
        "open": ActionItem.objects.open().count(),
        "overdue": ActionItem.objects.overdue(today).count(),
    }
    return render(
        request,
        "incidents/action_items.html",
        {
            "page": page,
            "show": show,
            "today": today,
            "counts": counts,
            "statuses": ActionItem.Status.choices,
            "nav": "reviews",
        },
    )


@require_GET
def review_schema(request: HttpRequest) -> HttpResponse:
    """The export's JSON Schema: public, it describes a format, not data."""
    return FileResponse(SCHEMA_PATH.open("rb"), content_type="application/schema+json")
