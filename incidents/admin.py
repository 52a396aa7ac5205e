from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from incidents.models import Incident, PinnedNote, RoleAssignment, Service, TimelineEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records that only the console's actions write (the audit trail and its pins)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ["name", "owner_team", "public", "public_name", "position"]
    list_editable = ["public", "public_name", "position"]
    search_fields = ["name", "owner_team"]


class RoleAssignmentInline(admin.TabularInline):
    model = RoleAssignment
    extra = 0
    readonly_fields = ["role", "user", "assigned_by", "started_at", "ended_at"]
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        # Roles change through the console so each handover lands on the timeline.
        return False


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ["reference", "title", "severity", "status", "declared_at", "acknowledged_at"]
    list_filter = ["status", "severity", "services"]
    search_fields = ["title", "summary"]
    # State changes go through incidents.actions so each writes its timeline event;
    # the admin only edits descriptive fields.
    readonly_fields = [
        "severity",
        "status",
        "declared_by",
        "declared_at",
        "ack_due_at",
        "acknowledged_by",
        "acknowledged_at",
        "ack_breach_recorded_at",
        "mitigated_at",
        "resolved_at",
    ]
    inlines = [RoleAssignmentInline]

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(TimelineEvent)
class TimelineEventAdmin(ReadOnlyAdmin):
    """Read-only: the timeline is the audit log."""

    list_display = ["at", "incident", "kind", "actor", "text"]
    list_filter = ["kind"]
    list_select_related = ["incident", "actor"]
    search_fields = ["text"]


@admin.register(PinnedNote)
class PinnedNoteAdmin(ReadOnlyAdmin):
    list_display = ["incident", "event", "pinned_by", "pinned_at"]
