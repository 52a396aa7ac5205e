"""Stakeholder communication: comms templates, published status updates and the update
cadence of each incident (when the next update is due, whether the reminder went out)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from incidents.models import Incident, Service, Severity, Status

# How often stakeholders hear from us while an incident is open (the runbooks' cadence).
UPDATE_CADENCE = {
    Severity.P0: timedelta(minutes=15),
    Severity.P1: timedelta(minutes=30),
    Severity.P2: timedelta(minutes=30),
    Severity.P3: timedelta(minutes=30),
}


def cadence_for(severity: str) -> timedelta:
    return UPDATE_CADENCE[Severity(severity)]


class CommsTemplate(models.Model):
    """A message skeleton; placeholders are filled from the incident when it is picked."""

    class Origin(models.TextChoices):
        RUNBOOK = "runbook", "Runbook proposal"
        MANUAL = "manual", "Written in the console"

    name = models.CharField(max_length=200)
    body = models.TextField()
    severity = models.CharField(
        max_length=2, choices=Severity.choices, blank=True, help_text="Meant for this severity"
    )
    origin = models.CharField(max_length=20, choices=Origin.choices, default=Origin.MANUAL)
    proposal = models.OneToOneField(
        "runbooks.Proposal",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="comms_template",
        editable=False,
    )
    source = models.CharField(max_length=300, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["severity", "name", "id"]

    def __str__(self) -> str:
        return self.name


class StatusUpdate(models.Model):
    """One message published to the public status page. Never edited once published."""

    incident = models.ForeignKey(Incident, models.PROTECT, related_name="status_updates")
    title = models.CharField(max_length=200, help_text="Public title of the incident")
    status = models.CharField(max_length=20, choices=Status.choices)
    body = models.TextField()
    components = models.ManyToManyField(Service, blank=True, related_name="status_updates")
    template = models.ForeignKey(
        CommsTemplate, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    published_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-published_at", "-id"]
        indexes = [models.Index(fields=["published_at"], name="statusupdate_published")]
        permissions = [
            ("publish_status_update", "Can publish status updates for any incident"),
        ]

    def __str__(self) -> str:
        return f"{self.incident.reference} {self.status} {self.published_at:%Y-%m-%d %H:%M}"


class UpdateCadence(models.Model):
    """When the incident's next stakeholder update is due, and whether its reminder was sent.

    Declaring starts the clock (first update due at declaration + cadence); each published
    update restarts it; resolving stops it (due_at NULL). `reminded_at` is claimed with a
    conditional UPDATE so each due date is reminded once.
    """

    incident = models.OneToOneField(
        Incident, models.CASCADE, primary_key=True, related_name="update_cadence"
    )
    due_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    last_published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["due_at"], name="cadence_due")]

    def __str__(self) -> str:
        return f"cadence of incident {self.incident_id}"

    def overdue(self, now=None) -> bool:
        return self.due_at is not None and self.due_at <= (now or timezone.now())
