"""htmx helpers shared by the apps' views."""

from __future__ import annotations

from django.http import HttpRequest


def wants_part(request: HttpRequest) -> bool:
    """An htmx request for a part of the page; not htmx restoring a page from history after
    Back (historyCacheSize is 0), which needs the whole page."""
    return bool(request.htmx) and not request.htmx.history_restore_request
