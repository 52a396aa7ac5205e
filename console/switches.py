"""Small POST endpoints that flip a setting (enable a probe, an integration, a rule): reading
the posted switch, and the plain-text 400 they answer when it is missing."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse


def posted_switch(request: HttpRequest, name: str = "enabled") -> bool | None:
    """True for "1", False for "0", None for anything else."""
    return {"1": True, "0": False}.get(request.POST.get(name) or "")


def refuse(reason: str) -> HttpResponse:
    """400 with the reason as plain text (htmx shows it as the error toast)."""
    return HttpResponse(reason, status=400, content_type="text/plain; charset=utf-8")
