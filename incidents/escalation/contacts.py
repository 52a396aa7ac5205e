"""People's contact methods (email, SMS, voice, ntfy push, Slack member id) and their personal
notification rules: for high urgency (P0/P1) and low urgency (P2/P3), an ordered list of
(method, minutes after being paged). Models of the incidents app."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models
from django.db.models import Q
from django.utils import timezone

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
NTFY_TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SLACK_MEMBER = re.compile(r"^[UW][A-Z0-9]{6,20}$")
CODE_TTL = timedelta(minutes=15)
CODE_ATTEMPTS = 5


class Urgency(models.TextChoices):
    HIGH = "high", "High urgency (P0, P1)"
    LOW = "low", "Low urgency (P2, P3)"

    @classmethod
    def of(cls, severity: str) -> Urgency:
        return cls.HIGH if severity in ("P0", "P1") else cls.LOW


class ContactMethod(models.Model):
    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "SMS"
        VOICE = "voice", "Voice call"
        PUSH = "push", "Push (ntfy)"
        SLACK = "slack", "Slack"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="contact_methods"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    address = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    verified_at = models.DateTimeField(null=True, blank=True)
    # The verification code, as an HMAC (never the code itself), when it was sent, tries left.
    code_digest = models.CharField(max_length=64, blank=True)
    code_sent_at = models.DateTimeField(null=True, blank=True)
    code_attempts = models.PositiveSmallIntegerField(default=0)
    # An SMS reply of STOP: the number is not texted again until START.
    opted_out_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["user", "kind", "id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "kind", "address"], name="contact_once"),
            # One person owns a verified number: an SMS reply acts as that person.
            models.UniqueConstraint(
                fields=["kind", "address"],
                condition=Q(verified_at__isnull=False),
                name="verified_address_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.address}"

    @property
    def verified(self) -> bool:
        return self.verified_at is not None

    @property
    def pageable(self) -> bool:
        return self.verified and not (self.kind == self.Kind.SMS and self.opted_out_at)

    def clean(self) -> None:
        self.address = normalise_address(self.kind, self.address)

    # -- verification ------------------------------------------------------------------------
    def new_code(self, now=None) -> str:
        code = f"{secrets.randbelow(10**6):06d}"
        self.code_digest = _digest(self.pk, code)
        self.code_sent_at = now or timezone.now()
        self.code_attempts = 0
        return code

    def check_code(self, code: str, now=None) -> str | None:
        """None when the code verifies the method; otherwise why not (the try is counted)."""
        now = now or timezone.now()
        if self.verified:
            return None
        if not self.code_digest or not self.code_sent_at:
            return "Send a code first."
        if now - self.code_sent_at > CODE_TTL:
            return "That code has expired; send a new one."
        if self.code_attempts >= CODE_ATTEMPTS:
            return "Too many wrong codes; send a new one."
        self.code_attempts += 1
        if not hmac.compare_digest(self.code_digest, _digest(self.pk, code.strip())):
            return "That code is not the one we sent."
        self.verified_at = now
        self.code_digest = ""
        return None


def _digest(pk: int | None, code: str) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"contact:{pk}:{code}".encode(), hashlib.sha256).hexdigest()


def normalise_address(kind: str, value: str) -> str:
    """The address as stored, or a ValidationError saying what it should look like."""
    value = (value or "").strip()
    Kind = ContactMethod.Kind
    if kind == Kind.EMAIL:
        validate_email(value)
        return value
    if kind in (Kind.SMS, Kind.VOICE):
        compact = re.sub(r"[\s().-]", "", value)
        if not E164.match(compact):
            raise ValidationError(
                "A phone number in international (E.164) form: + then country code and "
                "number, such as +14155550100."
            )
        return compact
    if kind == Kind.PUSH:
        if not NTFY_TOPIC.match(value):
            raise ValidationError(
                "An ntfy topic: letters, digits, - and _ (at most 64), such as oncall-rita-7f3k."
            )
        return value
    if kind == Kind.SLACK:
        if not SLACK_MEMBER.match(value):
            raise ValidationError(
                "A Slack member id looks like U024BE7LH: U or W, then capital letters and digits."
            )
        return value
    raise ValidationError("Unknown kind of contact method.")


class NotificationRule(models.Model):
    """Notify through `method` this many minutes after the person is paged."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="notification_rules"
    )
    urgency = models.CharField(max_length=4, choices=Urgency.choices)
    method = models.ForeignKey(ContactMethod, models.CASCADE, related_name="rules")
    delay_minutes = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["user", "urgency", "delay_minutes", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "urgency", "method", "delay_minutes"], name="rule_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.method} at {self.delay_minutes} min ({self.urgency})"
