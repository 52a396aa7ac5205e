from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone


class EventType(models.TextChoices):
    INCIDENT_DECLARED = "incident.declared", "Incident declared"
    INCIDENT_ACKNOWLEDGED = "incident.acknowledged", "Incident acknowledged"
    INCIDENT_SEVERITY_CHANGED = "incident.severity_changed", "Severity changed"
    INCIDENT_STATUS_CHANGED = "incident.status_changed", "Status changed (and reopened)"
    INCIDENT_RESOLVED = "incident.resolved", "Incident resolved"
    STATUS_UPDATE_PUBLISHED = "status_update.published", "Status update published"
    REVIEW_PUBLISHED = "review.published", "Review published"
    ACTION_ITEM_CREATED = "action_item.created", "Action item created"


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


class WebhookEndpoint(models.Model):
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list, help_text="EventType values this endpoint gets")
    # Needed in clear to sign with (HMAC); shown once, when created or rotated.
    secret = models.CharField(max_length=100, default=new_secret, editable=False)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, related_name="+", null=True
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.url

    @property
    def secret_hint(self) -> str:
        return self.secret[:10] + "…"


class WebhookDelivery(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(WebhookEndpoint, models.CASCADE, related_name="deliveries")
    event_type = models.CharField(max_length=40, choices=EventType.choices)
    payload = models.JSONField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # Insertion order is the order an endpoint receives its events in.
        ordering = ["id"]
        indexes = [models.Index(fields=["endpoint", "state", "id"], name="webhook_outbox")]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.endpoint_id} ({self.state})"
