"""What providers send back: Twilio's status callbacks, inbound SMS and voice TwiML (checked
with X-Twilio-Signature), ntfy's Acknowledge action (a signed single-use link) and Slack's
button presses (X-Slack-Signature). A forged or stale request gets 403 and changes nothing;
a genuine one acts as the person the page reached, with that person's permissions."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from xml.sax.saxutils import escape, quoteattr

import httpx
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from incidents import actions
from incidents.escalation import engine, notify
from incidents.escalation.channels import ACK_SALT, SAY_SALT, VOICE_SALT, twilio, unsign
from incidents.escalation.channels.voice import spoken
from incidents.escalation.contacts import ContactMethod
from incidents.escalation.models import Channel, NotificationDelivery, NotificationProfile
from incidents.models import Incident, Status, TimelineEvent

log = logging.getLogger(__name__)
State = NotificationDelivery.State
Kind = TimelineEvent.Kind
SLACK_TOLERANCE = 300  # seconds, as Slack recommends

# Twilio's final statuses; the failing ones move the person on to their next rule step.
FINAL_OK = {"delivered", "completed", "read"}
FINAL_FAILED = {"failed", "undelivered", "busy", "no-answer", "canceled"}
STOP_WORDS = {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout"}
START_WORDS = {"start", "unstop", "yes"}
ACK_REPLY = re.compile(r"^(?:1|ack(?:nowledge)?)(?:\s*#?(\d{1,9}))?$")


def twiml(*parts: str) -> HttpResponse:
    body = '<?xml version="1.0" encoding="UTF-8"?><Response>' + "".join(parts) + "</Response>"
    return HttpResponse(body, content_type="text/xml; charset=utf-8")


def say(text: str) -> str:
    return f"<Say>{escape(text)}</Say>"


def refused(reason: str, status: int = 403) -> JsonResponse:
    return JsonResponse({"error": reason}, status=status)


def twilio_checked(view):
    """403 unless the request carries a valid X-Twilio-Signature for this URL and body."""

    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not twilio.valid_request(request):
            return refused("X-Twilio-Signature does not match this request")
        return view(request, *args, **kwargs)

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


# -- delivery status ---------------------------------------------------------------------
@csrf_exempt
@require_POST
@twilio_checked
def twilio_status(request: HttpRequest) -> HttpResponse:
    """Twilio's StatusCallback for a message (MessageStatus) or a call (CallStatus)."""
    sid = request.POST.get("MessageSid") or request.POST.get("CallSid") or ""
    status = (request.POST.get("MessageStatus") or request.POST.get("CallStatus") or "").lower()
    if not sid or not status:
        return refused("MessageSid/CallSid and MessageStatus/CallStatus are required", 400)
    record_status(sid, status, request.POST.get("ErrorCode", ""))
    return HttpResponse(status=204)


def record_status(provider_ref: str, status: str, error_code: str = "") -> bool:
    """Write a provider's status report on its delivery (and, once final, the timeline)."""
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            NotificationDelivery.objects.select_for_update(of=("self",))
            .select_related("incident", "page", "user")
            .filter(provider_ref=provider_ref)
            .first()
        )
        if delivery is None:
            return False
        if any(c.get("status") == status for c in delivery.callbacks):
            return True  # Twilio retried a callback it had sent: recorded once
        entry = {"at": now.isoformat(), "status": status}
        if error_code:
            entry["error_code"] = error_code
        delivery.callbacks = [*delivery.callbacks, entry][-20:]
        delivery.provider_status = status[:32]
        delivery.changed_at = now
        fields = ["callbacks", "provider_status", "changed_at"]
        failed = status in FINAL_FAILED and delivery.state in (State.SENDING, State.SENT)
        if failed:
            delivery.state = State.FAILED
            delivery.error = f"{delivery.channel} {status}" + (
                f" (Twilio error {error_code})" if error_code else ""
            )
            delivery.finished_at = now
            fields += ["state", "error", "finished_at"]
        delivery.save(update_fields=fields)
        if status in FINAL_OK or status in FINAL_FAILED:
            following = notify.bring_next_step_forward(delivery, now) if failed else None
            actions.record(
                delivery.incident,
                Kind.NOTIFICATION_STATUS,
                None,
                text=f"{delivery.get_channel_display()} to {delivery.target}: {status}",
                data={
                    "delivery_id": delivery.pk,
                    "channel": delivery.channel,
                    "target": delivery.target,
                    "status": status,
                    "error_code": error_code or None,
                    "user": delivery.user.get_username() if delivery.user else None,
                    "next_step": following,
                },
                at=now,
            )
    return True


# -- inbound SMS ---------------------------------------------------------------------------
@csrf_exempt
@require_POST
@twilio_checked
def twilio_sms(request: HttpRequest) -> HttpResponse:
    """A reply to a page: `1` or `ACK` acknowledges the newest page to this number, `ACK 42`
    incident 42; STOP stops texts to it, START resumes them. Answers in TwiML."""
    number = request.POST.get("From", "").strip()
    text = " ".join(request.POST.get("Body", "").split()).lower()
    methods = list(
        ContactMethod.objects.select_related("user").filter(
            kind=ContactMethod.Kind.SMS, address=number, verified_at__isnull=False
        )
    )
    if text in STOP_WORDS or text in START_WORDS:
        stopping = text in STOP_WORDS
        ContactMethod.objects.filter(kind=ContactMethod.Kind.SMS, address=number).update(
            opted_out_at=timezone.now() if stopping else None
        )
        # Twilio answers STOP/START itself for its numbers; a second message would be noise.
        return twiml()
    if not methods:
        return twiml(
            "<Message>This number is not a verified contact in the incident console.</Message>"
        )
    person = methods[0].user
    match = ACK_REPLY.match(text)
    if not match:
        return twiml(
            "<Message>Reply 1 to acknowledge your newest page, or ACK and the incident "
            "number.</Message>"
        )
    paged = NotificationDelivery.objects.filter(user=person, channel=Channel.SMS)
    if match.group(1):
        paged = paged.filter(incident_id=int(match.group(1)))
    paged = paged.select_related("incident").order_by("-id")
    # A bare "1" means the newest page still waiting for someone, else the newest page.
    delivery = (
        paged.filter(incident__acknowledged_at__isnull=True)
        .exclude(incident__status=Status.RESOLVED)
        .first()
        or paged.first()
    )
    if delivery is None:
        return twiml(
            f"<Message>{escape(person.get_username())}: no page of yours matches that.</Message>"
        )
    answer = answer_page(delivery.incident, person, "acknowledge", via="sms", reply=text)
    return twiml(f"<Message>{escape(answer)}</Message>")


def answer_page(incident: Incident, person, what: str, *, via: str, reply: str = "") -> str:
    """Acknowledge or escalate as `person` (their permissions apply); the answer to show."""
    if what == "acknowledge":
        if not person.is_active or not person.has_perm("incidents.declare_incident"):
            outcome = "You may not acknowledge incidents."
        else:
            try:
                actions.acknowledge(incident, by=person, via=via)
                return f"{incident.reference} acknowledged by {person.get_username()}."
            except actions.ActionError as exc:
                outcome = str(exc)
    else:
        if not person.is_active or not person.has_perm("incidents.escalate_incident"):
            outcome = "You may not escalate incidents."
        else:
            try:
                level = engine.escalate_now(incident, by=person)
                return f"{incident.reference}: level {level} paged."
            except actions.ActionError as exc:
                outcome = str(exc)
    # A reply that changed nothing is still on the record.
    actions.record(
        incident,
        Kind.PAGE_REPLY,
        person,
        text=f"{what} via {via}: {outcome}",
        data={"via": via, "action": what, "reply": reply[:100], "outcome": outcome},
    )
    return outcome


# -- voice ---------------------------------------------------------------------------------
def _voice_delivery(token: str) -> NotificationDelivery | None:
    data = unsign(VOICE_SALT, token)
    if not data:
        return None
    return (
        NotificationDelivery.objects.select_related("incident", "user")
        .filter(pk=data.get("d"), channel=Channel.VOICE)
        .first()
    )


@csrf_exempt
@require_POST
@twilio_checked
def twilio_voice(request: HttpRequest, token: str) -> HttpResponse:
    """The call's TwiML: read the incident, <Gather> one digit (1 ack, 2 escalate now)."""
    delivery = _voice_delivery(token)
    if delivery is None:
        return refused("this call link is forged or has expired")
    action = twilio.request_url(request).split("?")[0].rstrip("/") + "/gather/"
    prompt = spoken(delivery.incident) + " Press 1 to acknowledge. Press 2 to escalate now."
    return twiml(
        f'<Gather input="dtmf" numDigits="1" timeout="10" method="POST" action={quoteattr(action)}>'
        f"{say(prompt)}</Gather>",
        say("We did not get an answer. Goodbye."),
    )


@csrf_exempt
@require_POST
@twilio_checked
def twilio_voice_gather(request: HttpRequest, token: str) -> HttpResponse:
    delivery = _voice_delivery(token)
    if delivery is None or delivery.user is None:
        return refused("this call link is forged or has expired")
    digits = request.POST.get("Digits", "")
    if digits not in ("1", "2"):
        again = twilio.request_url(request).split("?")[0].rstrip("/")
        again = again[: -len("/gather")] + "/"
        return twiml(
            say("Sorry, that is not an option."),
            f'<Redirect method="POST">{escape(again)}</Redirect>',
        )
    what = "acknowledge" if digits == "1" else "escalate"
    answer = answer_page(delivery.incident, delivery.user, what, via="voice", reply=digits)
    return twiml(say(answer + " Goodbye."), "<Hangup/>")


@csrf_exempt
@require_POST
@twilio_checked
def twilio_say(request: HttpRequest, token: str) -> HttpResponse:
    """A call that only speaks (a verification code, a test page), twice."""
    data = unsign(SAY_SALT, token)
    if not data:
        return refused("this call link is forged or has expired")
    text = str(data.get("say", ""))[:500]
    return twiml(say(text), '<Pause length="1"/>', say(text))


# -- ntfy ----------------------------------------------------------------------------------
@csrf_exempt
@require_POST
def ntfy_ack(request: HttpRequest, token: str) -> HttpResponse:
    """ntfy's "Acknowledge" http action: the link is signed, expires and works once."""
    data = unsign(ACK_SALT, token)
    if not data:
        return refused("this acknowledge link is forged or has expired")
    now = timezone.now()
    used = NotificationDelivery.objects.filter(
        pk=data.get("d"), channel=Channel.PUSH, link_used_at__isnull=True
    ).update(link_used_at=now, changed_at=now)
    if not used:
        return refused("this acknowledge link has been used already", 410)
    delivery = NotificationDelivery.objects.select_related("incident", "user").get(pk=data["d"])
    if delivery.user is None:
        return refused("the person this page reached no longer exists", 410)
    answer = answer_page(delivery.incident, delivery.user, "acknowledge", via="push")
    return JsonResponse({"ok": True, "message": answer})


# -- Slack ---------------------------------------------------------------------------------
def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def slack_refusal(request: HttpRequest, now: float | None = None) -> str:
    """Why the request is not Slack's (or too old), or ""."""
    secret = settings.SLACK_SIGNING_SECRET
    if not secret:
        return "SLACK_SIGNING_SECRET is not set"
    timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
    given = request.headers.get("X-Slack-Signature", "")
    if not timestamp.isdigit() or not given:
        return "X-Slack-Request-Timestamp and X-Slack-Signature are required"
    if abs((now or time.time()) - int(timestamp)) > SLACK_TOLERANCE:
        return "the request is more than five minutes old"
    if not hmac.compare_digest(slack_signature(secret, timestamp, request.body), given):
        return "X-Slack-Signature does not match"
    return ""


def slack_person(member_id: str):
    method = (
        ContactMethod.objects.select_related("user")
        .filter(kind=ContactMethod.Kind.SLACK, address=member_id, verified_at__isnull=False)
        .first()
    )
    if method is not None:
        return method.user
    profiles = list(
        NotificationProfile.objects.select_related("user").filter(slack_member_id=member_id)[:2]
    )
    return profiles[0].user if len(profiles) == 1 else None


@csrf_exempt
@require_POST
def slack_interactions(request: HttpRequest) -> HttpResponse:
    """A press of Acknowledge or Escalate on a paging message (Slack's block_actions)."""
    reason = slack_refusal(request)
    if reason:
        return refused(reason)
    try:
        payload = json.loads(request.POST.get("payload", ""))
    except ValueError:
        return refused("the body has no JSON payload= field", 400)
    if payload.get("type") != "block_actions" or not payload.get("actions"):
        return HttpResponse(status=200)  # other interaction types are not ours to handle
    action = payload["actions"][0]
    what = action.get("action_id")
    value = str(action.get("value", "")).strip()
    incident = Incident.objects.filter(pk=int(value)).first() if value.isdigit() else None
    if what not in ("acknowledge", "escalate") or incident is None:
        return refused("unknown action or incident", 400)
    member = (payload.get("user") or {}).get("id", "")
    person = slack_person(member)
    if person is None:
        answer = f"Slack user {member} is not linked to a console account (Profile → Slack)."
    else:
        answer = answer_page(incident, person, what, via="slack")
    update_message(payload.get("response_url", ""), incident, answer)
    return HttpResponse(status=200)


def update_message(response_url: str, incident: Incident, answer: str) -> None:
    """Replace the paging message with the incident's state (Slack's response_url)."""
    if not response_url.startswith(("https://", "http://")):
        return
    incident.refresh_from_db()
    link = notify.incident_url(incident)
    state = (
        f"Acknowledged by {incident.acknowledged_by.get_username()}"
        if incident.acknowledged_by
        else "Not acknowledged yet"
    )
    blocks = [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"*{incident.severity} <{link}|{incident.reference} {incident.title}>*\n"
                f"{state} · {incident.get_status_display()}",
            },
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": answer[:300]}]},
    ]
    if incident.acknowledged_at is None and incident.is_open:
        blocks.append(notify.page_buttons(incident))
    try:
        # Slack wants the interaction answered within 3 s: the update gets at most 2 of them.
        httpx.post(
            response_url,
            json={"replace_original": True, "text": answer, "blocks": blocks},
            timeout=min(settings.ESCALATION_HTTP_TIMEOUT, 2),
        )
    except httpx.HTTPError as exc:
        log.warning("slack response_url %s: %s", response_url, exc)
