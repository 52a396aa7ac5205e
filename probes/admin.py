from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from probes.models import CheckRequest, Heartbeat, Probe, ProbeResult, StepCheck

# Fields the engine keeps up to date; editing them by hand would contradict the results.
RUNTIME_FIELDS = [
    "state",
    "consecutive_failures",
    "last_checked_at",
    "last_summary",
    "last_latency_ms",
    "next_run_at",
    "open_incident",
    "results_link",
    # Heartbeats: the ping URL's key (made on save) and what the pings said.
    "ping_key",
    "last_ping_at",
    "last_start_at",
    "last_run_seconds",
]


class RecordAdmin(admin.ModelAdmin):
    """Rows the engine writes: shown, never added or edited by hand. Deleting stays possible
    (with the model's delete permission) so that deleting a probe can take its records along."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Probe)
class ProbeAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "kind",
        "service",
        "state",
        "enabled",
        "interval",
        "consecutive_failures",
        "last_checked_at",
    ]
    list_filter = ["kind", "state", "enabled", "service"]
    search_fields = ["name", "last_summary"]
    list_select_related = ["service"]
    autocomplete_fields = ["service"]
    raw_id_fields = ["scenario"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "service", "enabled"]}),
        (
            "Check",
            {
                "fields": ["config", "interval", "timeout"],
                "description": (
                    "The configuration is validated for the kind on save. Secrets are never "
                    "stored: name an environment variable (dsn_env, url_env, api_key_env)."
                ),
            },
        ),
        ("Incidents", {"fields": ["failures_to_open", "incident_severity", "scenario"]}),
        ("Current state (kept by the engine)", {"fields": RUNTIME_FIELDS}),
    ]
    readonly_fields = RUNTIME_FIELDS
    # No inlines: a month of results (and of flips, for a flapping probe) is far too many
    # rows for one form. The probe page shows the recent ones; the link lists them all.

    @admin.display(description="Results")
    def results_link(self, obj: Probe) -> str:
        if obj.pk is None:
            return "—"
        url = reverse("admin:probes_proberesult_changelist") + f"?probe__id__exact={obj.pk}"
        return format_html('<a href="{}">Results of this probe</a>', url)


@admin.register(ProbeResult)
class ProbeResultAdmin(RecordAdmin):
    list_display = ["checked_at", "probe", "status", "latency_ms", "summary", "source"]
    list_filter = ["status", "source", "probe"]
    list_select_related = ["probe"]
    date_hierarchy = "checked_at"
    search_fields = ["summary", "probe__name"]


@admin.register(CheckRequest)
class CheckRequestAdmin(RecordAdmin):
    list_display = ["requested_at", "probe", "requested_by", "inline", "step", "result"]
    list_filter = ["inline"]
    list_select_related = ["probe", "requested_by", "result", "step"]
    search_fields = ["probe__name", "requested_by__username"]


@admin.register(StepCheck)
class StepCheckAdmin(RecordAdmin):
    list_display = ["runbook", "command_excerpt", "probe", "accepted_by", "accepted_at"]
    list_select_related = ["runbook", "probe", "accepted_by"]
    search_fields = ["command", "runbook__title", "probe__name"]

    @admin.display(description="Command")
    def command_excerpt(self, obj: StepCheck) -> str:
        return obj.command if len(obj.command) <= 80 else obj.command[:79] + "…"


@admin.register(Heartbeat)
class HeartbeatAdmin(RecordAdmin):
    list_display = ["name", "beat_at", "info"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).order_by("name")
