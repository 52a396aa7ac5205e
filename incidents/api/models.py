"""Personal API tokens and the Idempotency-Key records of creating POSTs."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

TOKEN_PREFIX = "ic_"
# last_used_at is written at most this often per token: a busy script would otherwise turn
# every GET into a write.
LAST_USED_GRANULARITY = timedelta(minutes=1)
IDEMPOTENCY_TTL = timedelta(hours=24)


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def usable(self) -> ApiTokenQuerySet:
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    """A personal token: acts with its user's permissions; only its SHA-256 is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    # The first characters of the secret, shown in lists so a person can tell tokens apart.
    prefix = models.CharField(max_length=12, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    read_only = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(
        cls,
        user,
        *,
        name: str,
        read_only: bool = False,
        expires_at=None,
    ) -> tuple[ApiToken, str]:
        """A new token and its secret; the secret exists only in this return value."""
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user,
            name=name,
            prefix=secret[: len(TOKEN_PREFIX) + 6],
            token_hash=hash_token(secret),
            read_only=read_only,
            expires_at=expires_at,
        )
        return token, secret

    @property
    def state(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at and self.expires_at <= timezone.now():
            return "expired"
        return "active"

    def revoke(self) -> bool:
        """Revoke once; False when it already was."""
        now = timezone.now()
        changed = ApiToken.objects.filter(pk=self.pk, revoked_at__isnull=True).update(
            revoked_at=now
        )
        if changed:
            self.revoked_at = now
        return bool(changed)

    def touch(self, now=None) -> None:
        now = now or timezone.now()
        if self.last_used_at is None or self.last_used_at < now - LAST_USED_GRANULARITY:
            ApiToken.objects.filter(pk=self.pk).filter(
                models.Q(last_used_at__isnull=True)
                | models.Q(last_used_at__lt=now - LAST_USED_GRANULARITY)
            ).update(last_used_at=now)
            self.last_used_at = now


class IdempotencyKey(models.Model):
    """The answer to a creating POST sent with an Idempotency-Key, replayed on a retry.

    The row is inserted in the same transaction as the object it creates: a concurrent
    retry waits on the unique constraint and then replays, so the thing is created once.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # Method, path and a hash of the body: the same key with another request is refused.
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)
    response = models.JSONField(null=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="one_idempotency_key_per_user")
        ]

    def __str__(self) -> str:
        return self.key
