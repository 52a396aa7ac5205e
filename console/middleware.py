from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template import loader


class ContentSecurityPolicyMiddleware:
    """Adds the Content-Security-Policy header to every response that lacks one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.policy = settings.CONTENT_SECURITY_POLICY

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = self.policy
        return response


class ConsoleNotFoundMiddleware:
    """Under DEBUG (`make run`), Django answers an unknown address with its debug page and
    the whole URL map; the console shows its own 404 page instead, as in production. Only
    Django's technical page is replaced: a view's own 404 (a JSON reason, a plain message)
    is kept."""

    MARKER = b'<meta name="robots" content="NONE,NOARCHIVE">'

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            settings.DEBUG
            and response.status_code == 404
            and not getattr(response, "streaming", False)
            and self.MARKER in response.content
        ):
            body = loader.render_to_string("404.html", request=request)
            response = HttpResponse(body, status=404)
        return response
