"""The post-incident review, its drafted timeline choices, checklist, action items,
published revisions and bulk exports."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from incidents.models import Incident, Severity, TimelineEvent

# P0 and P1 reviews are required and due this long after resolution (the team's runbooks).
REVIEW_DUE_AFTER = timedelta(hours=48)
REQUIRED_SEVERITIES = {Severity.P0, Severity.P1}

# The sections every review has, in order; exports and the edit page follow this list.
TEXT_SECTIONS = [
    ("summary", "Summary"),
    ("root_cause", "Root cause"),
    ("contributing_factors", "Contributing factors"),
    ("fixes_applied", "Fixes applied"),
    ("long_term_fixes", "Long-term fixes"),
    ("went_well", "What went well"),
    ("could_improve", "What could improve"),
]


class PostIncidentReview(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        IN_REVIEW = "in_review", "In review"
        PUBLISHED = "published", "Published"

    incident = models.OneToOneField(Incident, models.CASCADE, related_name="review")
    required = models.BooleanField(help_text="P0 and P1 incidents must have a review")
    opened_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=12, choices=State.choices, default=State.DRAFT)
    # The revision being edited, or the published one when state is published.
    revision = models.PositiveIntegerField(default=1)

    summary = models.TextField(blank=True)
    impact_started_at = models.DateTimeField(
        null=True, blank=True, help_text="When users were first affected, if before detection"
    )
    users_affected = models.PositiveIntegerField(null=True, blank=True)
    customer_facing = models.BooleanField(default=False)
    root_cause = models.TextField(blank=True)
    contributing_factors = models.TextField(blank=True)
    fixes_applied = models.TextField(blank=True)
    long_term_fixes = models.TextField(blank=True)
    went_well = models.TextField(blank=True)
    could_improve = models.TextField(blank=True)

    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-opened_at"]
        indexes = [models.Index(fields=["state", "due_at"], name="review_state_due")]
        permissions = [
            ("publish_review", "Can publish post-incident reviews"),
            ("export_reviews", "Can bulk-export post-incident reviews"),
        ]

    def __str__(self) -> str:
        return f"Review of {self.incident.reference}"

    def get_absolute_url(self) -> str:
        return reverse("incidents:review", args=[self.incident_id])

    @property
    def is_published(self) -> bool:
        return self.state == self.State.PUBLISHED

    def is_overdue(self, now=None) -> bool:
        now = now or timezone.now()
        return (
            self.required
            and self.due_at is not None
            and self.state != self.State.PUBLISHED
            and now > self.due_at
        )


class ReviewTimelineEntry(models.Model):
    """An editor's choice about one drafted event: shown or not, and a note. The time and
    text always come from the event itself."""

    review = models.ForeignKey(PostIncidentReview, models.CASCADE, related_name="entries")
    event = models.ForeignKey(TimelineEvent, models.PROTECT, related_name="+")
    shown = models.BooleanField(default=True)
    annotation = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["review", "event"], name="one_entry_per_event")
        ]

    def __str__(self) -> str:
        return f"entry for event {self.event_id}"


class ReviewChecklistItem(models.Model):
    review = models.ForeignKey(PostIncidentReview, models.CASCADE, related_name="checklist")
    position = models.PositiveIntegerField()
    text = models.CharField(max_length=500)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["review", "position"]
        constraints = [
            models.UniqueConstraint(fields=["review", "position"], name="review_checklist_pos")
        ]

    def __str__(self) -> str:
        return self.text[:60]

    @property
    def done(self) -> bool:
        return self.done_at is not None


class ActionItemQuerySet(models.QuerySet):
    def open(self) -> ActionItemQuerySet:
        return self.filter(status__in=[ActionItem.Status.OPEN, ActionItem.Status.IN_PROGRESS])

    def overdue(self, today=None) -> ActionItemQuerySet:
        today = today or timezone.localdate()
        return self.open().filter(due_date__lt=today)


class ActionItem(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"
        WONT_DO = "wont_do", "Won't do"

    review = models.ForeignKey(PostIncidentReview, models.CASCADE, related_name="action_items")
    title = models.CharField(max_length=300)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    due_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    link = models.URLField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ActionItemQuerySet.as_manager()

    class Meta:
        ordering = ["due_date", "id"]
        indexes = [models.Index(fields=["status", "due_date"], name="action_item_status_due")]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.status in (self.Status.OPEN, self.Status.IN_PROGRESS)

    def is_overdue(self, today=None) -> bool:
        today = today or timezone.localdate()
        return self.is_open and self.due_date is not None and self.due_date < today


class ReviewRevision(models.Model):
    """A published revision, kept as the JSON export of the review at publication."""

    review = models.ForeignKey(PostIncidentReview, models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    content = models.JSONField()
    published_at = models.DateTimeField(default=timezone.now)
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")

    class Meta:
        ordering = ["review", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["review", "number"], name="review_revision_number")
        ]

    def __str__(self) -> str:
        return f"revision {self.number}"


class ReviewExport(models.Model):
    """A bulk export to a zip under VAR_DIR, written by a worker; the page polls its progress."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    filters = models.JSONField(default=dict)
    formats = models.JSONField(default=list)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    inline = models.BooleanField(default=False)
    filename = models.CharField(max_length=200, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Written when a worker claims the export and after every chunk: a running export whose
    # heartbeat is older than STALL_AFTER belongs to a worker that died.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Claims so far; the current claim's number, so a worker that lost its claim stops.
    attempts = models.PositiveSmallIntegerField(default=0)

    STALL_AFTER = timedelta(minutes=5)

    class Meta:
        ordering = ["-requested_at"]
        indexes = [models.Index(fields=["state", "heartbeat_at"], name="review_export_state")]

    def __str__(self) -> str:
        return f"export {self.pk}"

    @property
    def percent(self) -> int:
        if self.state == self.State.DONE:
            return 100
        return int(100 * self.done / self.total) if self.total else 0

    @property
    def finished(self) -> bool:
        return self.state in (self.State.DONE, self.State.FAILED)

    @property
    def stalled(self) -> bool:
        """Running, but no progress for STALL_AFTER: its worker died (or lost the database)."""
        return (
            self.state == self.State.RUNNING
            and self.heartbeat_at is not None
            and self.heartbeat_at < timezone.now() - self.STALL_AFTER
        )

    @property
    def can_restart(self) -> bool:
        return self.state == self.State.FAILED or self.stalled
