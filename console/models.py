from __future__ import annotations

from django.conf import settings
from django.db import models


class FormSubmission(models.Model):
    """A one-time form token that has been used: the first POST carrying it did the work, any
    later one (a double click, Enter pressed twice, a resend after a timeout) is answered with
    the first one's result instead of creating a second thing."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    token = models.CharField(max_length=64)
    path = models.CharField(max_length=300)
    # Where the first submission sent the browser (the incident it declared), if anywhere.
    result_url = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "token"], name="form_submission_once"),
        ]

    def __str__(self) -> str:
        return f"{self.path} · {self.token[:8]}…"
