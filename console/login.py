"""Login, slowed down after repeated failures: per account and per client address.

Five wrong passwords for one username, or twenty from one address, within 15 minutes, and
further attempts get 429 with Retry-After until the window has passed (a right password
included: a guesser can't tell). A successful login clears the account's count. Counts live
in the shared cache (Redis, or the embedded file cache) so every web worker sees them.
"""

from __future__ import annotations

import hashlib
import time

from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

WINDOW = 15 * 60
PER_USER = 5
PER_ADDRESS = 20


def _window() -> int:
    return int(time.time() // WINDOW)


def _keys(request: HttpRequest) -> tuple[str, str]:
    username = request.POST.get("username", "").strip().lower()
    digest = hashlib.sha256(username.encode()).hexdigest()[:24]
    address = request.META.get("REMOTE_ADDR", "")
    return f"login-fail:user:{digest}:{_window()}", f"login-fail:addr:{address}:{_window()}"


def _count(key: str) -> int:
    return cache.get(key) or 0


def _fail(key: str) -> None:
    incr = getattr(cache, "incr_expiring", None)
    if incr is not None:
        incr(key, WINDOW)
        return
    try:
        cache.incr(key)
    except ValueError:
        if not cache.add(key, 1, WINDOW):
            cache.incr(key)


def retry_after() -> int:
    return max(1, int(WINDOW - time.time() % WINDOW))


class LoginView(auth_views.LoginView):
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        user_key, addr_key = _keys(request)
        if _count(user_key) >= PER_USER or _count(addr_key) >= PER_ADDRESS:
            seconds = retry_after()
            response = render(
                request,
                "registration/login.html",
                {"form": self.get_form(), "throttled": seconds // 60 + 1},
                status=429,
            )
            response["Retry-After"] = str(seconds)
            return response
        response = super().post(request, *args, **kwargs)
        if response.status_code == 302:
            cache.delete(user_key)
        else:
            _fail(user_key)
            _fail(addr_key)
        return response
