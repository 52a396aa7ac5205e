from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone

from incidents.models import Severity


class Probe(models.Model):
    """A typed health check, run on a schedule and on demand. Secrets are never stored:
    configurations name environment variables (`dsn_env`, `url_env`, `api_key_env`)."""

    class Kind(models.TextChoices):
        HTTP = "http", "HTTP"
        TCP = "tcp", "TCP"
        TLS = "tls", "TLS certificate"
        DNS = "dns", "DNS"
        POSTGRES = "postgres", "PostgreSQL"
        REDIS = "redis", "Redis"
        STRIPE = "stripe", "Stripe"
        CELERY = "celery", "Celery"
        HEARTBEAT = "heartbeat", "Heartbeat"

    class State(models.TextChoices):
        UNKNOWN = "unknown", "Unknown"
        OK = "ok", "OK"
        WARNING = "warning", "Warning"
        CRITICAL = "critical", "Critical"
        ERROR = "error", "Error"

    name = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    service = models.ForeignKey(
        "incidents.Service", models.SET_NULL, null=True, blank=True, related_name="probes"
    )
    config = models.JSONField(default=dict)
    interval = models.DurationField(
        default=timedelta(seconds=60), validators=[MinValueValidator(timedelta(seconds=10))]
    )
    timeout = models.DurationField(
        default=timedelta(seconds=5), validators=[MinValueValidator(timedelta(seconds=1))]
    )
    enabled = models.BooleanField(default=True)
    failures_to_open = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(1)],
        help_text="Consecutive failures before the probe opens an incident",
    )
    incident_severity = models.CharField(
        max_length=2, choices=Severity.choices, default=Severity.P2
    )
    scenario = models.ForeignKey(
        "runbooks.Scenario",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="probes",
        help_text="Attached as a checklist to the incidents this probe opens",
    )

    # Current state, kept on the row so the dashboard is one query.
    state = models.CharField(max_length=10, choices=State.choices, default=State.UNKNOWN)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_summary = models.CharField(max_length=300, blank=True)
    last_latency_ms = models.FloatField(null=True, blank=True)
    next_run_at = models.DateTimeField(default=timezone.now, db_index=True)
    claim_token = models.CharField(max_length=36, blank=True)
    open_incident = models.ForeignKey(
        "incidents.Incident", models.SET_NULL, null=True, blank=True, related_name="+"
    )

    # Heartbeats only: the secret of the ping URL /ping/<ping_key> and what the pings said.
    ping_key = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    last_ping_at = models.DateTimeField(null=True, blank=True)
    last_start_at = models.DateTimeField(null=True, blank=True)
    last_run_seconds = models.FloatField(
        null=True, blank=True, help_text="Duration of the last run, /start to success"
    )

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["enabled", "next_run_at"], name="probe_due")]
        permissions = [("run_probe", "Can run probes on demand")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("probes:detail", args=[self.pk])

    @property
    def target(self) -> str:
        """What the probe reaches, in words, shown before a step's check runs. Connection
        strings are named by their variable, never shown."""
        c = self.config or {}
        if self.kind == "http":
            return f"{c.get('method', 'GET')} {c.get('url', '')}"
        if self.kind in ("tcp", "tls"):
            return f"{c.get('host', '')}:{c.get('port', '')}"
        if self.kind == "dns":
            return str(c.get("hostname", ""))
        if self.kind == "postgres":
            return f"PostgreSQL at ${c.get('dsn_env', 'DATABASE_URL')}"
        if self.kind == "redis":
            return f"Redis at ${c.get('url_env', 'REDIS_URL')}"
        if self.kind == "stripe":
            return f"Stripe API with ${c.get('api_key_env', 'STRIPE_SECRET_KEY')}"
        if self.kind == "celery":
            return f"Celery workers and queue {c.get('queue', 'celery')}"
        return self.get_kind_display()

    def clean(self) -> None:
        from probes.checkers import CHECKERS

        if self.kind == self.Kind.HEARTBEAT and self.ping_key is None:
            self.ping_key = uuid.uuid4()

        if self.timeout and self.interval and self.timeout >= self.interval:
            raise ValidationError({"timeout": "The timeout must be shorter than the interval."})
        checker = CHECKERS.get(self.kind)
        if checker is None:
            raise ValidationError({"kind": "Unknown probe kind."})
        try:
            self.config = checker.clean(self.config or {})
        except ValidationError as exc:
            raise ValidationError(
                {"config": [f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items()]}
            ) from None

    @property
    def failing(self) -> bool:
        return self.state in (self.State.CRITICAL, self.State.ERROR)

    @property
    def is_heartbeat(self) -> bool:
        return self.kind == self.Kind.HEARTBEAT

    @property
    def expectation(self) -> str:
        """ "every 1 h + 5 min grace", "on '0 3 * * *' (Europe/Paris) + 1 h grace"."""
        from probes.checkers.heartbeat import describe

        return describe(self.config) if self.is_heartbeat else ""

    @property
    def last_run_duration(self) -> timedelta | None:
        return None if self.last_run_seconds is None else timedelta(seconds=self.last_run_seconds)

    @property
    def ping_path(self) -> str:
        return f"/ping/{self.ping_key}" if self.ping_key else ""


class ProbeResult(models.Model):
    class Source(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Run now"
        INLINE = "inline", "Run in the request (broker unavailable)"
        PING = "ping", "Ping"

    probe = models.ForeignKey(Probe, models.CASCADE, related_name="results")
    checked_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=Probe.State.choices)
    latency_ms = models.FloatField(null=True, blank=True)
    summary = models.CharField(max_length=300)
    details = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.SCHEDULE)

    class Meta:
        ordering = ["-checked_at", "-id"]
        indexes = [
            models.Index(fields=["probe", "-checked_at"], name="probe_result_latest"),
            models.Index(fields=["checked_at"], name="probe_result_age"),
        ]

    def __str__(self) -> str:
        return f"{self.probe} {self.status} at {self.checked_at:%H:%M:%S}"


class ProbeFlip(models.Model):
    """A change of a probe's state, written with the result that caused it."""

    probe = models.ForeignKey(Probe, models.CASCADE, related_name="flips")
    at = models.DateTimeField(default=timezone.now)
    from_state = models.CharField(max_length=10, choices=Probe.State.choices)
    to_state = models.CharField(max_length=10, choices=Probe.State.choices)
    result = models.ForeignKey(ProbeResult, models.SET_NULL, null=True, related_name="+")

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.probe}: {self.from_state} → {self.to_state}"


class Heartbeat(models.Model):
    """Last sign of life of a periodic component (the dispatcher), for the dashboard."""

    name = models.CharField(max_length=50, primary_key=True)
    beat_at = models.DateTimeField()
    info = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"{self.name} at {self.beat_at:%H:%M:%S}"


class CheckRequest(models.Model):
    """A run someone asked for: "Run now" on a probe, or "Run check" on a checklist step.

    The request row exists before the run, so a page can show "running" until the worker
    links the result; a redelivered task finds the result already linked and does nothing.
    """

    probe = models.ForeignKey(Probe, models.CASCADE, related_name="requests")
    step = models.ForeignKey(
        "runbooks.StepRun", models.CASCADE, null=True, blank=True, related_name="check_requests"
    )
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    # True when the broker was unavailable and the check ran in the web request instead.
    inline = models.BooleanField(default=False)
    result = models.OneToOneField(
        ProbeResult, models.SET_NULL, null=True, blank=True, related_name="request"
    )

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["step", "-requested_at"], name="check_request_step")]

    def __str__(self) -> str:
        return f"{self.probe} requested by {self.requested_by} at {self.requested_at:%H:%M:%S}"

    @property
    def pending(self) -> bool:
        return self.result_id is None


class StepCheck(models.Model):
    """A runbook's step command bound to the probe that runs it, accepted once per runbook.

    `key` identifies the check (kind and configuration), so the binding holds for every
    version of the runbook whose step carries the same command.
    """

    runbook = models.ForeignKey("runbooks.Runbook", models.CASCADE, related_name="step_checks")
    key = models.CharField(max_length=64)
    command = models.TextField(help_text="The command as written in the runbook")
    probe = models.ForeignKey(Probe, models.CASCADE, related_name="step_checks")
    accepted_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    accepted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["runbook", "id"]
        constraints = [
            models.UniqueConstraint(fields=["runbook", "key"], name="step_check_runbook_key")
        ]

    def __str__(self) -> str:
        return f"{self.runbook}: {self.command[:60]}"
