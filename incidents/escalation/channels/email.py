"""Email pages through Django's mail (SMTP in production)."""

from __future__ import annotations

import smtplib

from django.core.mail import send_mail

from incidents.escalation.channels import Permanent, Transient, incident_url


def send(delivery) -> None:
    incident = delivery.incident
    subject = (
        f"[{incident.severity}] {incident.reference} {incident.title} · "
        f"L{delivery.page.level} paged"
    )
    body = (
        f"{incident.reference} {incident.title}\n"
        f"Severity: {incident.get_severity_display()}\n"
        f"Status: {incident.get_status_display()}\n"
        f"Paged: L{delivery.page.level} {delivery.page.name}\n"
        f"Declared: {incident.declared_at:%Y-%m-%d %H:%M %Z}\n\n"
        f"Acknowledge: {incident_url(incident)}\n"
    )
    try:
        send_mail(subject, body, None, [delivery.target], fail_silently=False)
    except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, OSError) as exc:
        raise Transient(f"{type(exc).__name__}: {exc}") from exc
    except smtplib.SMTPException as exc:
        raise Permanent(f"{type(exc).__name__}: {exc}") from exc
    return None
