"""Integrations (who may post alerts), the raw deliveries, the alerts they carry, routing
rules, and what the Stripe intake remembers (event ids, signature failures)."""

from __future__ import annotations

import hashlib
import secrets
import uuid

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import connections, models
from django.urls import reverse
from django.utils import timezone

from incidents.models import Incident, Service, Severity


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def kind_choices() -> list[tuple[str, str]]:
    """Every sender format the console reads (intake/formats: a new module is a new kind)."""
    from incidents.intake.formats import FORMATS

    return [(kind, module.LABEL) for kind, module in FORMATS.items()]


class Integration(models.Model):
    """A sender of alerts. Its secret token is in the URL (/hooks/<kind>/<token>/); only its
    SHA-256 is stored, so the token is shown once, at creation or rotation."""

    class Kind(models.TextChoices):  # the kinds the code names; every kind: kind_choices
        ALERTMANAGER = "alertmanager", "Prometheus Alertmanager"
        GENERIC = "generic", "Generic JSON"
        STRIPE = "stripe", "Stripe webhooks"

    kind = models.CharField(max_length=20, choices=kind_choices)
    name = models.CharField(max_length=100, unique=True)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    token_hint = models.CharField(max_length=8, editable=False, help_text="First characters")
    default_service = models.ForeignKey(
        Service, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    default_severity = models.CharField(max_length=2, choices=Severity.choices, default=Severity.P2)
    enabled = models.BooleanField(default=True)
    auto_resolve = models.BooleanField(
        default=False, help_text="Resolve the incident when every one of its alerts is resolved"
    )
    signing_secret_env = models.CharField(
        max_length=100,
        blank=True,
        help_text="Stripe: the environment variable holding the endpoint's signing secret",
    )
    rate_limit_per_minute = models.PositiveIntegerField(
        default=600, validators=[MinValueValidator(1)]
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def new_token(self) -> str:
        """Set a fresh token (the old one stops working) and return it: the only time the
        token itself is known."""
        if self.kind == "pagerduty":  # an integration key: 32 characters, as PagerDuty's
            token = secrets.token_hex(16)
        elif self.kind == "opsgenie":  # an API key, as Opsgenie's (a UUID)
            token = str(uuid.uuid4())
        else:
            token = secrets.token_urlsafe(32)
        self.token_hash = token_digest(token)
        self.token_hint = token[:6]
        return token

    def hook_path(self, token: str) -> str:
        """Where the sender posts. PagerDuty and Opsgenie senders post to the paths of those
        services' APIs and carry the secret in the body (routing key) or a header (GenieKey)."""
        if self.kind == "pagerduty":
            return reverse("pagerduty_enqueue")
        if self.kind == "opsgenie":
            return reverse("opsgenie_alerts")
        return reverse("hook", args=[self.kind, token])

    @property
    def secret_outside_url(self) -> bool:
        return self.kind in ("pagerduty", "opsgenie")


class InboundEventManager(models.Manager):
    def receive(self, integration: Integration, body: str) -> InboundEvent:
        """Store a delivery as pending: one `INSERT … RETURNING id`, committed on return.

        The hook's hot path. The ORM's `create()` spends about a third of a millisecond more
        per delivery building and compiling the same statement, a sixth of the request.
        """
        connection = connections[self.db]
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {self.model._meta.db_table} (integration_id, received_at, body,"
                " external_id, event_type, state, error, attempts)"
                " VALUES (%s, %s, %s, '', '', %s, '', 0)"
                " RETURNING id",
                [
                    integration.pk,
                    connection.ops.adapt_datetimefield_value(now),
                    body,
                    InboundEvent.State.PENDING,
                ],
            )
            (pk,) = cursor.fetchone()
        event = self.model(pk=pk, integration=integration, received_at=now, body=body)
        event._state.adding = False
        event._state.db = self.db
        return event


class InboundEvent(models.Model):
    """One delivery as received: kept raw, processed by a task (or in the request when the
    broker is down). Processing is idempotent: it runs once per row, under a row lock."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSED = "processed", "Processed"
        DROPPED = "dropped", "Dropped by a rule"
        FAILED = "failed", "Failed"

    integration = models.ForeignKey(Integration, models.CASCADE, related_name="events")
    received_at = models.DateTimeField(default=timezone.now)
    body = models.TextField()
    # Stripe: the event id, unique per integration so a replayed event is processed once.
    external_id = models.CharField(max_length=255, blank=True)
    # Stripe: the event's type, so "payment failures in the last 10 minutes" is one indexed
    # query rather than a parse of every recent body.
    event_type = models.CharField(max_length=100, blank=True, db_index=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    # Failed processing attempts; while under MAX_ATTEMPTS it stays pending until next_attempt_at.
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    incident = models.ForeignKey(
        Incident, models.SET_NULL, null=True, blank=True, related_name="inbound_events"
    )

    objects = InboundEventManager()

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["integration", "-received_at"], name="inbound_latest"),
            # Pending and failed deliveries are few among many processed: the drain's and the
            # health banner's queries read only them.
            models.Index(
                fields=["state", "id"],
                condition=models.Q(state__in=["pending", "failed"]),
                name="inbound_open",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "external_id"],
                condition=~models.Q(external_id=""),
                name="inbound_external_id_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.integration} delivery {self.pk}"


class Alert(models.Model):
    """One alert of a group, upserted on every delivery that carries it."""

    class Status(models.TextChoices):
        FIRING = "firing", "Firing"
        RESOLVED = "resolved", "Resolved"

    integration = models.ForeignKey(Integration, models.CASCADE, related_name="alerts")
    incident = models.ForeignKey(
        Incident, models.SET_NULL, null=True, blank=True, related_name="alerts"
    )
    # Fingerprint + startsAt (or the labels' hash when there is no fingerprint).
    key = models.CharField(max_length=128)
    # The incident it belongs with by its sender's grouping (the incident's dedup_key).
    group_key = models.CharField(max_length=200, blank=True)
    fingerprint = models.CharField(max_length=64, blank=True)
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices)
    labels = models.JSONField(default=dict)
    annotations = models.JSONField(default=dict)
    # The whole text of any field cut to fit its column ("title", "name", "source_url", …).
    details = models.JSONField(default=dict, blank=True)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    source_url = models.URLField(max_length=1000, blank=True)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    deliveries = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["incident", "name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["integration", "key"], name="alert_key_once")
        ]
        indexes = [
            models.Index(fields=["integration", "group_key", "first_seen"], name="alert_group"),
            models.Index(fields=["integration", "fingerprint"], name="alert_fingerprint"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"


class RoutingRule(models.Model):
    """Ordered rules: the first enabled rule whose conditions all hold decides. Conditions are
    [{"field": "labels.alertname", "op": "equals"|"regex"|"exists", "value": "…"}]."""

    class Action(models.TextChoices):
        ROUTE = "route", "Route"
        DROP = "drop", "Drop"

    position = models.PositiveIntegerField(default=0)
    name = models.CharField(max_length=200)
    enabled = models.BooleanField(default=True)
    integration = models.ForeignKey(
        Integration,
        models.CASCADE,
        null=True,
        blank=True,
        related_name="rules",
        help_text="Empty: applies to every integration",
    )
    conditions = models.JSONField(default=list)
    action = models.CharField(max_length=10, choices=Action.choices, default=Action.ROUTE)
    severity = models.CharField(max_length=2, choices=Severity.choices, blank=True)
    service = models.ForeignKey(Service, models.SET_NULL, null=True, blank=True, related_name="+")
    # A scenario title, resolved against the current runbook versions when an incident opens
    # (a Scenario row belongs to one version; a re-import makes new rows).
    scenario_title = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class SignatureFailure(models.Model):
    """A webhook whose signature did not verify: a security signal, kept for its count."""

    integration = models.ForeignKey(Integration, models.CASCADE, related_name="signature_failures")
    at = models.DateTimeField(default=timezone.now, db_index=True)
    reason = models.CharField(max_length=300)
    remote_addr = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.integration}: {self.reason}"


class ChangeEvent(models.Model):
    """A change someone's tooling announced (a deploy, a config push, a migration): PagerDuty's
    change events. Kept for its service's "Recent changes" panel and written on the timeline
    of that service's open incidents ("check recent deployments" has an answer)."""

    integration = models.ForeignKey(Integration, models.CASCADE, related_name="changes")
    service = models.ForeignKey(
        Service, models.SET_NULL, null=True, blank=True, related_name="changes"
    )
    at = models.DateTimeField(default=timezone.now, help_text="When the change happened")
    received_at = models.DateTimeField(default=timezone.now)
    summary = models.CharField(max_length=1024)
    source = models.CharField(max_length=255, blank=True)
    custom_details = models.JSONField(default=dict, blank=True)
    links = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["service", "-at"], name="change_service_at")]

    def __str__(self) -> str:
        return self.summary[:80]
