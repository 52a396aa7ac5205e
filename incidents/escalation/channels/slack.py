"""The level-wide Slack message (an incoming webhook, Block Kit) with the Acknowledge and
Escalate buttons; presses come back to `hooks.slack_interactions`."""

from __future__ import annotations

import json

from django.conf import settings

from incidents.escalation.channels import incident_url, page_people, post


def slack_payload(delivery, mentions: list[str]) -> dict:
    incident, page = delivery.incident, delivery.page
    link = incident_url(incident)
    who = " ".join(f"<@{member}>" for member in mentions) or "_nobody with a Slack id_"
    return {
        "text": f"{incident.severity} {incident.reference} {incident.title}: L{page.level} paged",
        "blocks": [
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": f"{incident.severity} · {incident.reference} · L{page.level} paged"[
                        :150
                    ],
                },
            },
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*<{link}|{incident.title}>*\n{who}"},
                "fields": [
                    {"type": "mrkdwn", "text": f"*Severity*\n{incident.get_severity_display()}"},
                    {"type": "mrkdwn", "text": f"*Status*\n{incident.get_status_display()}"},
                    {"type": "mrkdwn", "text": f"*Level*\nL{page.level} {page.name}"},
                    {"type": "mrkdwn", "text": "*Acknowledged*\nnot yet"},
                ],
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"Declared {incident.declared_at:%Y-%m-%d %H:%M %Z} · "
                        f"acknowledge in the console: {link}",
                    }
                ],
            },
            page_buttons(incident),
        ],
    }


def page_buttons(incident) -> dict:
    """Acknowledge and Escalate: Slack posts the press to /hooks/slack/interactions/."""
    return {
        "type": "actions",
        "block_id": f"incident-{incident.pk}",
        "elements": [
            {
                "type": "button",
                "action_id": "acknowledge",
                "text": {"type": "plain_text", "text": "Acknowledge"},
                "style": "primary",
                "value": str(incident.pk),
            },
            {
                "type": "button",
                "action_id": "escalate",
                "text": {"type": "plain_text", "text": "Escalate"},
                "style": "danger",
                "value": str(incident.pk),
            },
        ],
    }


def mentions(people: list) -> list[str]:
    """Member ids to mention: a verified Slack contact method, else the profile's id."""
    from incidents.escalation.contacts import ContactMethod

    verified = dict(
        ContactMethod.objects.filter(
            user__in=people, kind=ContactMethod.Kind.SLACK, verified_at__isnull=False
        ).values_list("user_id", "address")
    )
    found = []
    for person in people:
        # A missing profile raises RelatedObjectDoesNotExist, an AttributeError.
        profile = getattr(person, "notification_profile", None)
        member = verified.get(person.pk) or (profile.slack_member_id if profile else "")
        if member:
            found.append(member)
    return found


def send(delivery) -> int:
    body = json.dumps(slack_payload(delivery, mentions(page_people(delivery)))).encode()
    return post(settings.SLACK_WEBHOOK_URL, body, {})
