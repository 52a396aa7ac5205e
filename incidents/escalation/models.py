"""Escalation policies, on-call rotations, the ladder frozen onto an incident, its pages and
notification deliveries. Models of the incidents app (imported from incidents/models.py)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SLACK = "slack", "Slack"
    WEBHOOK = "webhook", "Webhook"
    SMS = "sms", "SMS"
    VOICE = "voice", "Voice call"
    PUSH = "push", "Push"


# What a level can choose: "email" pages its people by their own notification rules (email by
# default); Slack and the webhook are level-wide broadcasts.
LEVEL_CHANNELS = [
    (Channel.EMAIL.value, "People (their notification rules)"),
    (Channel.SLACK.value, "Slack channel"),
    (Channel.WEBHOOK.value, "Webhook"),
]


class OnCallRotation(models.Model):
    """People taking turns: member N is on call for the Nth period after `starts_on` at the
    handoff time (local to `timezone`), round and round. Overrides win while they last."""

    class Period(models.TextChoices):
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly"

    name = models.CharField(max_length=100, unique=True)
    period = models.CharField(max_length=10, choices=Period.choices, default=Period.WEEKLY)
    handoff_time = models.TimeField(default="09:00")
    timezone = models.CharField(max_length=64, default="UTC")
    starts_on = models.DateField(help_text="The first member's first shift starts this day")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ValueError, KeyError) as exc:  # ZoneInfoNotFoundError is a KeyError
            raise ValidationError(
                {"timezone": "Not a known time zone (an IANA name such as Europe/London)."}
            ) from exc

    @property
    def period_days(self) -> int:
        return 7 if self.period == self.Period.WEEKLY else 1

    def shift_at(self, at: datetime) -> tuple[int, datetime, datetime]:
        """(shift number, its start, its end) for the instant, in wall time of the rotation."""
        zone = ZoneInfo(self.timezone)
        local = at.astimezone(zone)
        days = (local.date() - self.starts_on).days
        if local.time().replace(tzinfo=None) < self.handoff_time:
            days -= 1
        shift = days // self.period_days
        start_day = self.starts_on + timedelta(days=shift * self.period_days)
        end_day = start_day + timedelta(days=self.period_days)
        start = datetime.combine(start_day, self.handoff_time, tzinfo=zone)
        end = datetime.combine(end_day, self.handoff_time, tzinfo=zone)
        return shift, start, end

    def scheduled_at(self, at: datetime, members: list | None = None):
        """The member (a User) the schedule puts on call at `at`, ignoring overrides."""
        members = members if members is not None else self.ordered_members()
        if not members:
            return None
        shift, _, _ = self.shift_at(at)
        return members[shift % len(members)]

    def ordered_members(self) -> list:
        return [m.user for m in self.members.select_related("user").order_by("position")]

    def on_call_at(self, at: datetime | None = None, members=None, overrides=None):
        """Who is on call at `at`: the newest override covering it, else the schedule."""
        at = at or timezone.now()
        if overrides is None:
            overrides = self.overrides.select_related("user")
        covering = [o for o in overrides if o.starts_at <= at < o.ends_at]
        if covering:
            return max(covering, key=lambda o: o.pk).user
        return self.scheduled_at(at, members)


class RotationMember(models.Model):
    rotation = models.ForeignKey(OnCallRotation, models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="+")
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["rotation", "position"]
        constraints = [
            models.UniqueConstraint(fields=["rotation", "position"], name="one_member_per_slot"),
            models.UniqueConstraint(fields=["rotation", "user"], name="member_once_per_rotation"),
        ]

    def __str__(self) -> str:
        return f"{self.rotation} #{self.position}: {self.user}"


class RotationOverride(models.Model):
    """`user` covers the rotation from `starts_at` to `ends_at` (a swap, a holiday)."""

    rotation = models.ForeignKey(OnCallRotation, models.CASCADE, related_name="overrides")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="override_ends_after_start"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} covers {self.rotation} {self.starts_at:%Y-%m-%d %H:%M}"


class EscalationPolicy(models.Model):
    """The ladder for one severity. Declaring an incident freezes a copy of it (a snapshot)."""

    severity = models.CharField(max_length=2, unique=True)
    ack_minutes = models.PositiveIntegerField(
        help_text="Acknowledgement target, in minutes from declaration"
    )
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["severity"]
        verbose_name_plural = "escalation policies"

    def __str__(self) -> str:
        return f"{self.severity} escalation policy"


class EscalationLevel(models.Model):
    policy = models.ForeignKey(EscalationPolicy, models.CASCADE, related_name="levels")
    position = models.PositiveIntegerField()
    name = models.CharField(max_length=120, help_text="Who this level stands for")
    delay_minutes = models.PositiveIntegerField(help_text="Minutes after declaration")
    users = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    group = models.ForeignKey(Group, models.SET_NULL, null=True, blank=True, related_name="+")
    rotation = models.ForeignKey(
        OnCallRotation, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    channels = models.JSONField(default=list)

    class Meta:
        ordering = ["policy", "position"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "position"], name="one_level_per_position")
        ]

    def __str__(self) -> str:
        return f"L{self.position} {self.name}"


class IncidentEscalation(models.Model):
    """The running ladder of one incident: the policy as it was when applied, where the ladder
    is, and the token every scheduled level task carries (a new snapshot or a stop changes it,
    so an older task finds a different token and drops out)."""

    incident = models.OneToOneField("incidents.Incident", models.CASCADE, related_name="escalation")
    severity = models.CharField(max_length=2)
    snapshot = models.JSONField(help_text="The policy's levels as applied")
    applied_at = models.DateTimeField(default=timezone.now)
    # Levels are due this long after the anchor: the declaration, or the reopening.
    anchor_at = models.DateTimeField()
    token = models.CharField(max_length=32)
    # The next level to page and when: the sweep's one query reads these.
    next_level = models.PositiveIntegerField(null=True, blank=True)
    next_due_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=100, blank=True)

    class Meta:
        indexes = [models.Index(fields=["next_due_at"], name="escalation_next_due")]
        permissions = [("escalate_incident", "Can page the next escalation level now")]

    def __str__(self) -> str:
        return f"escalation of incident {self.incident_id}"

    @property
    def levels(self) -> list[dict]:
        return self.snapshot.get("levels", [])


class EscalationPage(models.Model):
    """One level paged for one incident. The unique constraint is the claim: whoever inserts
    the row pages the level; a second worker, a retry or a redelivery can't."""

    incident = models.ForeignKey("incidents.Incident", models.CASCADE, related_name="pages")
    level = models.PositiveIntegerField()
    name = models.CharField(max_length=120)
    paged_at = models.DateTimeField(default=timezone.now)
    paged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    token = models.CharField(max_length=32)
    # Whom the level reached when paged: [user id, …] (the rotation's on-call of that moment).
    recipients = models.JSONField(default=list)

    class Meta:
        ordering = ["incident", "level"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "level"], name="one_page_per_level")
        ]

    def __str__(self) -> str:
        return f"incident {self.incident_id} L{self.level}"


class NotificationDelivery(models.Model):
    """One message to one target on one channel, for one page."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    page = models.ForeignKey(EscalationPage, models.CASCADE, related_name="deliveries")
    incident = models.ForeignKey("incidents.Incident", models.CASCADE, related_name="+")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    # "user:<id>" for a person, "channel" for one message to the channel (Slack, webhook).
    target_key = models.CharField(max_length=40)
    target = models.CharField(max_length=300, blank=True, help_text="Address shown to people")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Every change of state (claim, retry, outcome, skip) sets it. Retries write no timeline
    # event, so the incident page's poll folds the newest one into its ETag.
    changed_at = models.DateTimeField(default=timezone.now)
    # A step of the person's notification rules (target_key "user:<id>:step:<n>"): the contact
    # method, the step's number and when it falls due (None: at once).
    method = models.ForeignKey(
        "incidents.ContactMethod", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    step = models.PositiveSmallIntegerField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    # The provider's id for the message or call (Twilio's SM…/CA… sid, ntfy's id, Slack's ts),
    # its last reported status, and every status callback received.
    provider_ref = models.CharField(max_length=64, blank=True, db_index=True)
    provider_status = models.CharField(max_length=32, blank=True)
    callbacks = models.JSONField(default=list, blank=True)
    # A signed single-use link (ntfy's Acknowledge action) was used.
    link_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["page", "id"]
        # A person's rule step is (page, channel, "user:<id>:step:<n>"): one per (incident,
        # level, person, step), whatever the retries or workers.
        constraints = [
            models.UniqueConstraint(
                fields=["page", "channel", "target_key"], name="one_delivery_per_target"
            )
        ]
        indexes = [
            models.Index(fields=["state", "claimed_at"], name="delivery_state"),
            models.Index(fields=["incident", "-changed_at"], name="delivery_changed"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} to {self.target or self.target_key}"


SLACK_MEMBER_ID = re.compile(r"^[UW][A-Z0-9]{6,20}$")


class NotificationProfile(models.Model):
    """Where a person wants to be paged."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="notification_profile"
    )
    email = models.EmailField(blank=True, help_text="Empty: the account's email")
    slack_member_id = models.CharField(
        max_length=24, blank=True, help_text="Slack member id, such as U024BE7LH"
    )

    def __str__(self) -> str:
        return f"notification profile of {self.user}"

    def clean(self) -> None:
        if self.slack_member_id and not SLACK_MEMBER_ID.match(self.slack_member_id):
            raise ValidationError(
                {
                    "slack_member_id": "A Slack member id looks like U024BE7LH: U or W then "
                    "capital letters and digits (Profile → ⋮ → Copy member ID)."
                }
            )
