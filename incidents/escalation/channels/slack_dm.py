"""A person's Slack step: a direct message through the Web API's chat.postMessage (channel =
the member id), with the Acknowledge and Escalate buttons. Needs SLACK_BOT_TOKEN;
SLACK_API_BASE points at Slack (or a stand-in)."""

from __future__ import annotations

import json

from django.conf import settings


def missing() -> str:
    return "" if settings.SLACK_BOT_TOKEN else "SLACK_BOT_TOKEN is not set"


def post_message(channel: str, text: str, blocks: list | None = None) -> tuple[int, dict]:
    from incidents.escalation.channels import Permanent
    from incidents.escalation.channels import post as _post

    reason = missing()
    if reason:
        raise Permanent(reason)
    payload = {"channel": channel, "text": text}
    if blocks:
        payload["blocks"] = blocks
    code, body = _post(
        settings.SLACK_API_BASE.rstrip("/") + "/chat.postMessage",
        json.dumps(payload).encode(),
        {
            "Authorization": f"Bearer {settings.SLACK_BOT_TOKEN}",
            "Content-Type": "application/json; charset=utf-8",
        },
        with_text=True,
    )
    try:
        answer = json.loads(body)
    except ValueError:
        answer = {}
    # The Web API answers 200 with ok: false and an error name for a refusal.
    if not answer.get("ok"):
        raise Permanent(f"Slack refused: {answer.get('error', 'no answer')}", code)
    return code, answer


def send(delivery) -> int:
    from incidents.escalation.channels.slack import slack_payload
    from incidents.escalation.channels.sms import remember

    payload = slack_payload(delivery, [delivery.target])
    code, answer = post_message(delivery.target, payload["text"], payload["blocks"])
    remember(delivery, {"sid": answer.get("ts", ""), "status": "posted"})
    return code
