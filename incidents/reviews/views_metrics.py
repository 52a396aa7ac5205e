"""The metrics page for managers, and its CSV."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from incidents.permissions import require_perm
from incidents.reviews.charts import bar_chart
from incidents.reviews.drafting import human_duration
from incidents.reviews.metrics import compute, to_csv

DEFAULT_DAYS = 90


class PeriodForm(forms.Form):
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError("The period ends before it starts.")
        return data


def period(form: PeriodForm) -> tuple[datetime, datetime]:
    """[start, end) from the chosen days (inclusive), by default the last 90 days."""
    today = timezone.localdate()
    data = form.cleaned_data if form.is_valid() else {}
    last = data.get("date_to") or today
    first = data.get("date_from") or (last - timedelta(days=DEFAULT_DAYS - 1))
    tz = timezone.get_current_timezone()
    start = datetime.combine(first, time.min, tzinfo=tz)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=tz)
    return start, end


def _secs(value: float | None) -> str:
    return human_duration(timedelta(seconds=value)) if value is not None else "—"


@login_required
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    require_perm(request, "incidents.view_metrics")
    form = PeriodForm(request.GET or None)
    if request.GET and not form.is_valid():
        return render(request, "incidents/metrics.html", {"form": form}, status=400)
    start, end = period(form)
    result = compute(start, end)
    if request.GET.get("format") == "csv":
        response = HttpResponse(to_csv(result), content_type="text/csv; charset=utf-8")
        name = f"incident-metrics-{start:%Y%m%d}-{(end - timedelta(days=1)):%Y%m%d}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    weeks = bar_chart(
        [(f"{w:%d %b}", n, "") for w, n in result.weeks],
        title=f"Incidents declared per week, {len(result.weeks)} weeks",
        value_format=lambda v: f"{v:.0f}",
        width=1100,
        height=150,
    )
    mttr = bar_chart(
        [(row.group, row.ttr_p50, f"sev-fill-{row.group.lower()}") for row in result.by_severity],
        title="Median time to resolve by severity",
        value_format=_secs,
        width=280,
    )
    mtta = bar_chart(
        [(row.group, row.tta_p50, f"sev-fill-{row.group.lower()}") for row in result.by_severity],
        title="Median time to acknowledge by severity",
        value_format=_secs,
        width=280,
    )
    query = request.GET.copy()
    query["format"] = "csv"
    context = {
        "form": form,
        "m": result,
        "start": start,
        "last_day": end - timedelta(days=1),
        "weeks_chart": weeks,
        "mttr_chart": mttr,
        "mtta_chart": mtta,
        "csv_query": query.urlencode(),
        "nav": "metrics",
        "total_incidents": sum(n for _, n in result.weeks),
        "completion": (
            round(100 * result.completion_rate) if result.completion_rate is not None else None
        ),
    }
    return render(request, "incidents/metrics.html", context)
