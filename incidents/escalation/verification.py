"""Checking a contact method before it is ever paged: a six-digit code sent through it, typed
back on the profile page; and "Send me a test page" through every verified method. Both are
sent in the request (the person is waiting for the answer) with the paging timeout."""

from __future__ import annotations

import smtplib

from django.core.mail import send_mail
from django.urls import reverse

from incidents.escalation.channels import (
    SAY_SALT,
    Permanent,
    Transient,
    public_url,
    push,
    sign,
    slack_dm,
    twilio,
)
from incidents.escalation.contacts import ContactMethod

Kind = ContactMethod.Kind


def deliver(method: ContactMethod, text: str, spoken: str | None = None) -> str:
    """Send `text` through the method: "" when it went, else why not."""
    try:
        if method.kind == Kind.EMAIL:
            try:
                send_mail("Incident console", text, None, [method.address], fail_silently=False)
            except (smtplib.SMTPException, OSError) as exc:
                return f"{type(exc).__name__}: {exc}"
        elif method.kind == Kind.SMS:
            twilio.send_message(method.address, text)
        elif method.kind == Kind.VOICE:
            token = sign(SAY_SALT, {"say": spoken or text})
            twilio.start_call(method.address, public_url(reverse("twilio_say", args=[token])))
        elif method.kind == Kind.PUSH:
            push.publish(
                {
                    "topic": method.address,
                    "title": "Incident console",
                    "message": text,
                    "priority": 3,
                    "tags": ["white_check_mark"],
                }
            )
        elif method.kind == Kind.SLACK:
            slack_dm.post_message(method.address, text)
    except (Transient, Permanent) as exc:
        return str(exc)
    return ""


def send_code(method: ContactMethod) -> str:
    """A new code through the method (the old one stops working): "" or why it failed."""
    code = method.new_code()
    method.save(update_fields=["code_digest", "code_sent_at", "code_attempts"])
    spaced = " ".join(code)
    return deliver(
        method,
        f"Your incident console verification code is {code}. It expires in 15 minutes.",
        spoken=f"Your incident console verification code is {spaced}. Again: {spaced}.",
    )


def test_page(user) -> list[tuple[ContactMethod, str]]:
    """A test page through each of the person's verified methods: (method, error or "")."""
    text = (
        f"Test page for {user.get_username()} from the incident console: this is how a real "
        "page reaches you. Nothing to do."
    )
    return [
        (method, deliver(method, text))
        for method in ContactMethod.objects.filter(user=user, verified_at__isnull=False)
    ]
