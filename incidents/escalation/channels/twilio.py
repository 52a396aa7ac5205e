"""Twilio's REST protocol (Messages and Calls, API version 2010-04-01) and its request
signatures. TWILIO_API_BASE may point at another provider that speaks the same protocol.

Signature (X-Twilio-Signature): base64 of HMAC-SHA1 keyed with the auth token over the full
URL Twilio requested, followed by each POST parameter's name and value, sorted by name."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlencode

import httpx
from django.conf import settings
from django.http import HttpRequest

API_VERSION = "2010-04-01"


def missing() -> str:
    """Why Twilio can't be used, or "" when it can."""
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER"):
        if not getattr(settings, name):
            return f"{name} is not set"
    return ""


def compute_signature(auth_token: str, url: str, params: list[tuple[str, str]]) -> str:
    by_name: dict[str, list[str]] = {}
    for name, value in params:
        by_name.setdefault(name, []).append(value)
    text = url
    for name in sorted(by_name):
        for value in sorted(by_name[name]):
            text += name + value
    mac = hmac.new(auth_token.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


def request_url(request: HttpRequest) -> str:
    """The URL Twilio called: the console's public base (CONSOLE_BASE_URL) and the path with
    its query string, as a proxy in front of the console can't be trusted to say its host."""
    return settings.CONSOLE_BASE_URL.rstrip("/") + request.get_full_path()


def valid_request(request: HttpRequest) -> bool:
    token = settings.TWILIO_AUTH_TOKEN
    given = request.headers.get("X-Twilio-Signature", "")
    if not token or not given:
        return False
    params = [(k, v) for k in request.POST for v in request.POST.getlist(k)]
    expected = compute_signature(token, request_url(request), params)
    return hmac.compare_digest(expected, given)


def create(resource: str, data: list[tuple[str, str]]) -> tuple[int, dict]:
    """POST a Message or a Call; (HTTP status, the resource as JSON). Raises notify's
    Transient (network, 5xx, 429) or Permanent (4xx: Twilio's error code and message)."""
    from incidents.escalation.channels import Permanent, Transient

    reason = missing()
    if reason:
        raise Permanent(reason)
    sid = settings.TWILIO_ACCOUNT_SID
    url = f"{settings.TWILIO_API_BASE.rstrip('/')}/{API_VERSION}/Accounts/{sid}/{resource}.json"
    try:
        response = httpx.post(
            url,
            # Repeated names (StatusCallbackEvent) are sent as repeated fields.
            content=urlencode(data),
            auth=(sid, settings.TWILIO_AUTH_TOKEN),
            headers={
                "Accept": "application/json",
                "Content-Type": "application/x-www-form-urlencoded",
            },
            timeout=settings.ESCALATION_HTTP_TIMEOUT,
        )
    except httpx.HTTPError as exc:
        raise Transient(f"{type(exc).__name__}: {exc}") from exc
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code >= 400:
        detail = body.get("message") or response.text[:200]
        code = body.get("code")
        text = f"HTTP {response.status_code}: {detail}" + (
            f" (Twilio error {code})" if code else ""
        )
        if response.status_code >= 500 or response.status_code == 429:
            raise Transient(text, response.status_code)
        raise Permanent(text, response.status_code)
    if not body.get("sid"):
        raise Permanent(f"HTTP {response.status_code}: the answer has no sid", response.status_code)
    return response.status_code, body


def send_message(to: str, body: str, status_callback: str | None = None) -> tuple[int, dict]:
    data = [("To", to), ("From", settings.TWILIO_FROM_NUMBER), ("Body", body)]
    if status_callback:
        data.append(("StatusCallback", status_callback))
    return create("Messages", data)


def start_call(to: str, twiml_url: str, status_callback: str | None = None) -> tuple[int, dict]:
    data = [
        ("To", to),
        ("From", settings.TWILIO_FROM_NUMBER),
        ("Url", twiml_url),
        ("Method", "POST"),
        ("Timeout", "30"),
    ]
    if status_callback:
        data += [
            ("StatusCallback", status_callback),
            ("StatusCallbackMethod", "POST"),
            ("StatusCallbackEvent", "answered"),
            ("StatusCallbackEvent", "completed"),
        ]
    return create("Calls", data)
