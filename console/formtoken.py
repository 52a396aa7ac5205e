"""One-time form tokens: every form that creates something carries one, and the server
does the work once per token.

The token is random, rendered into the form by `{% form_token %}` (console/templatetags) and
renewed by static/js/console.js after each successful htmx submission, so the next intent gets
a new one. The view is wrapped by `@one_time_form`: the token is recorded (unique per user)
in the same transaction as the work, so of two concurrent submissions one does the work and
the other waits for its commit, then answers with the first one's result. A refused
submission (4xx) releases its token so the corrected form can be sent again.

A POST without a token (scripts, API clients) is processed as before; every form the console
renders carries one.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import timedelta
from functools import wraps

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone

FIELD = "form_token"
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
KEEP = timedelta(days=2)


def new_token() -> str:
    return secrets.token_urlsafe(18)


def _duplicate_response(request: HttpRequest, result_url: str) -> HttpResponse:
    """The answer to a repeated submission: where the first one led, or a quiet success."""
    if request.htmx:
        response = HttpResponse(status=204)
        if result_url:
            response["HX-Redirect"] = result_url
        else:
            # The page refreshes from the server as it would after the first submission.
            response["HX-Trigger"] = "incident-changed"
        return response
    if result_url:
        return HttpResponseRedirect(result_url)
    referer = request.headers.get("Referer", "")
    if referer.startswith(f"{request.scheme}://{request.get_host()}/"):
        return HttpResponseRedirect(referer)
    return HttpResponse(
        "This form was already sent; it was processed once.",
        status=409,
        content_type="text/plain; charset=utf-8",
    )


def one_time_form(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    from console.models import FormSubmission

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        token = request.POST.get(FIELD, "") if request.method == "POST" else ""
        if not token or not request.user.is_authenticated:
            return view(request, *args, **kwargs)
        if not TOKEN_RE.match(token):
            return HttpResponse(
                "form_token: malformed", status=400, content_type="text/plain; charset=utf-8"
            )
        with transaction.atomic():
            try:
                with transaction.atomic():
                    claim = FormSubmission.objects.create(
                        user=request.user, token=token, path=request.path[:300]
                    )
            except IntegrityError:
                prior = FormSubmission.objects.filter(user=request.user, token=token).first()
                return _duplicate_response(request, prior.result_url if prior else "")
            response = view(request, *args, **kwargs)
            if response.status_code >= 400:
                claim.delete()
            else:
                location = response.get("HX-Redirect") or response.get("Location") or ""
                if location:
                    FormSubmission.objects.filter(pk=claim.pk).update(result_url=location[:500])
        return response

    return wrapper


def prune() -> int:
    """Forget tokens older than a resend could be (beat, daily)."""
    from console.models import FormSubmission

    deleted, _ = FormSubmission.objects.filter(created_at__lt=timezone.now() - KEEP).delete()
    return deleted
