"""Bulk export: the form, the progress page htmx polls, and the download."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from console.formtoken import one_time_form
from console.htmx import wants_part
from console.queue import enqueue
from incidents.models import Service, Severity
from incidents.permissions import require_perm
from incidents.reviews.export import FORMATS
from incidents.reviews.models import ReviewExport
from incidents.reviews.tasks import (
    INLINE_LIMIT,
    export_reviews,
    exports_dir,
    matching_reviews,
    requeue,
    run_export,
)

BROKER_DOWN = (
    "The task queue is unreachable, so this export of {n} reviews can't run now. Exports of "
    "up to {limit} reviews run straight away without it; narrow the range or try again once "
    "the queue is back."
)


class BulkExportForm(forms.Form):
    date_from = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    severities = forms.MultipleChoiceField(
        choices=Severity.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    service = forms.ModelChoiceField(
        queryset=Service.objects.all(), required=False, empty_label="Any service"
    )
    formats = forms.MultipleChoiceField(
        choices=[("md", "Markdown"), ("json", "JSON"), ("pdf", "PDF")],
        initial=list(FORMATS),
        widget=forms.CheckboxSelectMultiple,
    )

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError("The range ends before it starts.")
        return data

    def filters(self) -> dict:
        data = self.cleaned_data
        return {
            "date_from": data["date_from"].isoformat(),
            "date_to": data["date_to"].isoformat(),
            "severities": list(data["severities"]),
            "service": data["service"].pk if data["service"] else None,
        }


@login_required
@one_time_form
def bulk_export(request: HttpRequest) -> HttpResponse:
    require_perm(request, "incidents.export_reviews")
    form = BulkExportForm(request.POST or None)
    recent = ReviewExport.objects.filter(requested_by=request.user)[:10]
    if request.method == "POST":
        if not form.is_valid():
            return render(
                request,
                "incidents/review_export.html",
                {"form": form, "recent": recent, "nav": "reviews"},
                status=422,
            )
        filters = form.filters()
        total = matching_reviews(filters).count()
        if total == 0:
            form.add_error(None, "No review matches these filters.")
            return render(
                request,
                "incidents/review_export.html",
                {"form": form, "recent": recent, "nav": "reviews"},
                status=422,
            )
        export = ReviewExport.objects.create(
            requested_by=request.user,
            filters=filters,
            formats=form.cleaned_data["formats"],
            total=total,
        )
        start(export.pk, total)
        return redirect("incidents:review_export_status", export.pk)
    if request.method != "GET":
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    return render(
        request, "incidents/review_export.html", {"form": form, "recent": recent, "nav": "reviews"}
    )


def start(export_pk: int, total: int) -> None:
    """Queue a queued export for a worker; without a broker run a small one here."""
    if not enqueue(export_reviews, export_pk):
        if total <= INLINE_LIMIT:
            ReviewExport.objects.filter(pk=export_pk).update(inline=True)
            run_export(export_pk)
        else:
            ReviewExport.objects.filter(pk=export_pk).update(
                state=ReviewExport.State.FAILED,
                error=BROKER_DOWN.format(n=total, limit=INLINE_LIMIT),
            )


@login_required
@require_POST
def export_restart(request: HttpRequest, pk: int) -> HttpResponse:
    """Start a failed or stalled export again, with the same filters."""
    export = _export_for_user(request, pk)
    if requeue(export.pk):
        start(export.pk, export.total)
    elif export.state == ReviewExport.State.DONE:
        return HttpResponse(
            "This export is done; start a new one from the export page.",
            status=409,
            content_type="text/plain",
        )
    # Otherwise it is running with a live heartbeat or someone else re-queued it: show it.
    return redirect("incidents:review_export_status", export.pk)


def _export_for_user(request: HttpRequest, pk: int) -> ReviewExport:
    require_perm(request, "incidents.export_reviews")
    return get_object_or_404(ReviewExport.objects.select_related("requested_by"), pk=pk)


@login_required
@require_GET
def export_status(request: HttpRequest, pk: int) -> HttpResponse:
    export = _export_for_user(request, pk)
    template = (
        "incidents/review_export_status.html#progress"
        if wants_part(request)
        else "incidents/review_export_status.html"
    )
    return render(request, template, {"export": export, "nav": "reviews"})


@login_required
@require_GET
def export_download(request: HttpRequest, pk: int) -> HttpResponse:
    export = _export_for_user(request, pk)
    if export.state != ReviewExport.State.DONE:
        raise Http404("This export has no file yet.")
    path = exports_dir() / export.filename
    if not path.exists():
        raise Http404("The export's file is gone.")
    return FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=f"reviews-{export.pk}.zip",
        content_type="application/zip",
    )
