from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone


class Severity(models.TextChoices):
    P0 = "P0", "P0 · Critical"
    P1 = "P1", "P1 · High"
    P2 = "P2", "P2 · Medium"
    P3 = "P3", "P3 · Low"


# Meanings from the team's runbooks; acknowledgement targets from their escalation table.
SEVERITY_MEANINGS = {
    Severity.P0: "Complete outage, data loss risk or security breach",
    Severity.P1: "Major feature broken or more than 30% of users affected",
    Severity.P2: "Minor feature broken or less than 30% of users affected",
    Severity.P3: "Cosmetic issue, workaround available",
}
ACK_TARGETS = {
    Severity.P0: timedelta(minutes=15),
    Severity.P1: timedelta(hours=1),
    Severity.P2: timedelta(hours=4),
    Severity.P3: timedelta(hours=24),
}


class Status(models.TextChoices):
    INVESTIGATING = "investigating", "Investigating"
    IDENTIFIED = "identified", "Identified"
    MONITORING = "monitoring", "Monitoring"
    RESOLVED = "resolved", "Resolved"


class Role(models.TextChoices):
    COMMANDER = "commander", "Incident Commander"
    INVESTIGATOR = "investigator", "Investigator"
    COMMUNICATOR = "communicator", "Communicator"
    SCRIBE = "scribe", "Scribe"


class Service(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    owner_team = models.CharField(max_length=100, blank=True)
    # The public status page shows public services as its components.
    public = models.BooleanField(default=False, help_text="Shown on the public status page")
    public_name = models.CharField(max_length=100, blank=True, help_text="Name shown publicly")
    public_description = models.CharField(max_length=300, blank=True)
    position = models.PositiveIntegerField(default=0, help_text="Order on the status page")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def display_name(self) -> str:
        return self.public_name or self.name


class IncidentQuerySet(models.QuerySet):
    def open(self) -> IncidentQuerySet:
        return self.exclude(status=Status.RESOLVED)

    def involving(self, user) -> IncidentQuerySet:
        """Incidents the user declared or holds a current role in."""
        holds_role = RoleAssignment.objects.filter(
            incident=models.OuterRef("pk"), user=user, ended_at__isnull=True
        )
        return self.filter(Q(declared_by=user) | Q(models.Exists(holds_role)))


class Incident(models.Model):
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    customer_impact = models.TextField(blank=True)
    severity = models.CharField(max_length=2, choices=Severity.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.INVESTIGATING)
    services = models.ManyToManyField(Service, blank=True, related_name="incidents")

    declared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, related_name="declared_incidents"
    )
    declared_at = models.DateTimeField(default=timezone.now)
    ack_due_at = models.DateTimeField(
        help_text="When acknowledgement is due under the severity's target"
    )
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="acknowledged_incidents",
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    ack_breach_recorded_at = models.DateTimeField(null=True, blank=True, editable=False)
    mitigated_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # Machine-opened incidents (probes, alerts) carry a key; the constraint below makes
    # concurrent duplicates join the open incident instead of opening a second one.
    dedup_key = models.CharField(  # noqa: DJ001 - NULL: people's incidents have no key
        max_length=200, null=True, blank=True, editable=False
    )

    objects = IncidentQuerySet.as_manager()

    class Meta:
        ordering = ["severity", "-declared_at"]
        indexes = [
            models.Index(fields=["status", "severity", "declared_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["dedup_key"],
                condition=Q(dedup_key__isnull=False) & ~Q(status="resolved"),
                name="one_open_incident_per_dedup_key",
            )
        ]
        permissions = [
            ("declare_incident", "Can declare incidents, add notes, change status, acknowledge"),
            ("assign_roles", "Can assign incident roles"),
            ("change_severity", "Can change incident severity"),
            ("resolve_incident", "Can resolve and reopen incidents"),
            ("acknowledge_for_others", "Can acknowledge on behalf of another responder"),
            ("view_metrics", "Can see incident metrics and export reviews"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("incidents:detail", args=[self.pk])

    @property
    def reference(self) -> str:
        return f"INC-{self.pk:04d}" if self.pk else "INC-new"

    @property
    def is_open(self) -> bool:
        return self.status != Status.RESOLVED

    @property
    def severity_meaning(self) -> str:
        return SEVERITY_MEANINGS[Severity(self.severity)]

    @property
    def ack_target(self) -> timedelta:
        # The escalation policy's target, frozen onto ack_due_at when applied.
        if self.ack_due_at and self.declared_at:
            return self.ack_due_at - self.declared_at
        return ACK_TARGETS[Severity(self.severity)]

    def ack_breached(self, now=None) -> bool:
        """Acknowledged late, or still unacknowledged past the target."""
        reference_time = self.acknowledged_at or now or timezone.now()
        return reference_time > self.ack_due_at

    @property
    def duration(self) -> timedelta:
        return (self.resolved_at or timezone.now()) - self.declared_at


class RoleAssignment(models.Model):
    """Who holds a role in an incident, and for how long. Handovers end one row, start another."""

    incident = models.ForeignKey(Incident, models.CASCADE, related_name="role_assignments")
    role = models.CharField(max_length=20, choices=Role.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    assigned_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "role"],
                condition=Q(ended_at__isnull=True),
                name="one_current_holder_per_role",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_role_display()}: {self.user}"


class AppendOnlyError(Exception):
    """Raised on any attempt to change or remove a timeline event."""


class TimelineEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("Timeline events are append-only; record a correction instead")

    def delete(self):
        raise AppendOnlyError("Timeline events are append-only; record a correction instead")

    def bulk_update(self, objs, fields, batch_size=None):
        raise AppendOnlyError("Timeline events are append-only; record a correction instead")

    def update_or_create(self, *args, **kwargs):
        raise AppendOnlyError("Timeline events are append-only; record a correction instead")


class TimelineEvent(models.Model):
    """One entry of the incident's audit log. Written once, never changed (also in SQL)."""

    class Kind(models.TextChoices):
        DECLARED = "declared", "Declared"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        ACK_TARGET_BREACHED = "ack_target_breached", "Acknowledgement target breached"
        SEVERITY_CHANGED = "severity_changed", "Severity changed"
        STATUS_CHANGED = "status_changed", "Status changed"
        RESOLVED = "resolved", "Resolved"
        REOPENED = "reopened", "Reopened"
        ROLE_ASSIGNED = "role_assigned", "Role assigned"
        ROLE_HANDED_OVER = "role_handed_over", "Role handed over"
        ROLE_UNASSIGNED = "role_unassigned", "Role unassigned"
        NOTE_ADDED = "note_added", "Note"
        NOTE_PINNED = "note_pinned", "Note pinned"
        NOTE_UNPINNED = "note_unpinned", "Note unpinned"
        PROBE_FAILED = "probe_failed", "Probe failing"
        PROBE_RECOVERED = "probe_recovered", "Probe recovered"
        PROBE_RESULT = "probe_result", "Check run"
        CHECKLIST_ATTACHED = "checklist_attached", "Checklist attached"
        STEP_DONE = "step_done", "Step done"
        STEP_REOPENED = "step_reopened", "Step reopened"
        STEP_SKIPPED = "step_skipped", "Step skipped"
        STEP_NOTED = "step_noted", "Step note"
        ALERT_FIRING = "alert_firing", "Alert firing"
        ALERT_RESOLVED = "alert_resolved", "Alert resolved"
        ALERTS_RESOLVED = "alerts_resolved", "All alerts resolved"
        CHANGE_EVENT = "change_event", "Change"
        SECURITY_SIGNAL = "security_signal", "Security signal"
        # Escalation: the policy frozen onto the incident, each level paged, each delivery.
        ESCALATION_POLICY_APPLIED = "escalation_policy_applied", "Escalation policy applied"
        ESCALATION_PAGED = "escalation_paged", "Paged"
        ESCALATION_STOPPED = "escalation_stopped", "Escalation stopped"
        NOTIFICATION_SENT = "notification_sent", "Notification delivered"
        NOTIFICATION_FAILED = "notification_failed", "Notification failed"
        # The provider's report on a sent page (delivered, undelivered, no answer), and a
        # paged person's answer from where the page reached them (SMS, voice, push, Slack).
        NOTIFICATION_STATUS = "notification_status", "Delivery status"
        PAGE_REPLY = "page_reply", "Reply to a page"
        # Stakeholder updates published to the status page, and a missed cadence.
        UPDATE_PUBLISHED = "update_published", "Status update published"
        UPDATE_OVERDUE = "update_overdue", "Status update overdue"
        # The post-incident review.
        REVIEW_OPENED = "review_opened", "Review opened"
        REVIEW_PUBLISHED = "review_published", "Review published"

    incident = models.ForeignKey(Incident, models.PROTECT, related_name="events")
    kind = models.CharField(max_length=40, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)
    text = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    objects = TimelineEventQuerySet.as_manager()

    class Meta:
        # Insertion order is the audit order; `at` may be earlier for imported history.
        ordering = ["id"]
        indexes = [
            models.Index(fields=["incident", "id"], name="timeline_incident_id"),
            models.Index(fields=["kind", "at"], name="timeline_kind_at"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.kind}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise AppendOnlyError("Timeline events are append-only; record a correction instead")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Timeline events are append-only; record a correction instead")

    @property
    def is_note(self) -> bool:
        return self.kind == self.Kind.NOTE_ADDED


class PinnedNote(models.Model):
    """Current pins; pinning and unpinning themselves are recorded on the timeline."""

    incident = models.ForeignKey(Incident, models.CASCADE, related_name="pins")
    event = models.OneToOneField(TimelineEvent, models.PROTECT, related_name="pin")
    pinned_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    pinned_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pinned_at"]

    def __str__(self) -> str:
        return f"pin of event {self.event_id}"


# Escalation's models (policies, rotations, pages, deliveries) live in incidents/escalation/,
# alert intake's in incidents/intake/, the REST API's tokens and Idempotency-Key records in
# incidents/api/, outgoing webhooks' (at the end) in incidents/webhooks/; they belong to this app.
from incidents.api.models import ApiToken, IdempotencyKey  # noqa: E402,F401
from incidents.escalation.contacts import ContactMethod, NotificationRule  # noqa: E402,F401
from incidents.escalation.models import (  # noqa: E402,F401
    EscalationLevel,
    EscalationPage,
    EscalationPolicy,
    IncidentEscalation,
    NotificationDelivery,
    NotificationProfile,
    OnCallRotation,
    RotationMember,
    RotationOverride,
)
from incidents.intake.models import (  # noqa: E402,F401
    Alert,
    InboundEvent,
    Integration,
    RoutingRule,
    SignatureFailure,
)

# Post-incident reviews' models belong to this app; they live in incidents/reviews/.
from incidents.reviews.models import (  # noqa: E402,F401
    ActionItem,
    PostIncidentReview,
    ReviewChecklistItem,
    ReviewExport,
    ReviewRevision,
    ReviewTimelineEntry,
)

# Stakeholder updates and the public status page; they live in incidents/statuspage/.
from incidents.statuspage.models import (  # noqa: E402,F401
    CommsTemplate,
    StatusUpdate,
    UpdateCadence,
)
from incidents.webhooks.models import WebhookDelivery, WebhookEndpoint  # noqa: E402,F401
