"""Stripe webhook events: verified before anything is stored, stored once, and turned into
incidents only when they mean trouble.

Why it is shaped this way:

- The hook URL's token is not enough for Stripe: anyone who learns the URL could post a fake
  `charge.dispute.created`. Every delivery carries a `Stripe-Signature` (an HMAC of the body
  with the endpoint's signing secret); one that does not verify is answered 400 and leaves only
  a `SignatureFailure` row behind. A burst of them is a security signal in itself (someone is
  probing the endpoint, or the secret was rotated on one side only), so five within ten minutes
  open a P0 "Webhook Security Alert".
- The secret lives in the environment, named by the integration. When it is missing we answer
  503: Stripe keeps retrying a 5xx for days, so nothing is lost while an operator sets it.
- Stripe delivers at least once and retries until it sees a 2xx, so the same event can arrive
  many times. The event id is stored with a unique constraint; a replay answers 200
  "duplicate" (Stripe stops retrying) and is never processed again.
- One declined card is business as usual; five failed payments in ten minutes are an outage of
  the checkout. A dispute always needs a human (evidence is due by a deadline), so each one is
  an incident of its own.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import stripe
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest, JsonResponse

from incidents import actions
from incidents.intake.models import InboundEvent, Integration, SignatureFailure
from incidents.intake.payloads import PayloadError
from incidents.intake.process import Outcome
from incidents.intake.routing import current_scenario
from incidents.intake.views import accepted, refuse
from incidents.models import Incident, Severity, TimelineEvent

Kind = TimelineEvent.Kind

# Stripe's own default: a signature older than this is a replay (or a badly skewed clock).
SIGNATURE_TOLERANCE = 300
SIGNATURE_FAILURE_THRESHOLD = 5
SIGNATURE_FAILURE_WINDOW = timedelta(minutes=10)
PAYMENT_FAILURE_THRESHOLD = 5
PAYMENT_FAILURE_WINDOW = timedelta(minutes=10)

PAYMENT_FAILURE_TYPES = ("payment_intent.payment_failed", "charge.failed")
DISPUTE_CREATED = "charge.dispute.created"

SECURITY_TITLE = "Webhook Security Alert"
PAYMENTS_SCENARIO = "Payment Processing Failure"

# Stripe amounts are in the currency's minor unit; these currencies have none, or three.
ZERO_DECIMAL = {
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga",
    "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf",
}  # fmt: skip
THREE_DECIMAL = {"bhd", "jod", "kwd", "omr", "tnd"}


# -- receiving -----------------------------------------------------------------------------------
def receive(request: HttpRequest, integration: Integration, body: bytes) -> JsonResponse:
    """The hook's answer for a Stripe delivery (token, size and rate already checked)."""
    if not integration.signing_secret_env:
        return refuse(503, "This integration names no environment variable for its secret.")
    secret = os.environ.get(integration.signing_secret_env, "").strip()
    if not secret:
        return refuse(
            503,
            "The Stripe signing secret is not configured: set the environment variable "
            f"{integration.signing_secret_env} on the console's server.",
        )
    header = request.headers.get("Stripe-Signature", "")
    if not header:
        return signature_failed(request, integration, "No Stripe-Signature header.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return signature_failed(request, integration, "The body is not UTF-8 text.")
    try:
        stripe_event = stripe.Webhook.construct_event(
            text, header, secret, tolerance=SIGNATURE_TOLERANCE
        )
    except stripe.SignatureVerificationError as exc:
        return signature_failed(request, integration, str(exc))
    # Signed with our secret but not an event: JSON errors and thin (v2) notifications raise
    # ValueError, a JSON array or string AttributeError, inside the Stripe library.
    except (ValueError, AttributeError, TypeError):
        return refuse(400, "The body is signed but is not a Stripe event (a JSON object).")
    fields = stripe_event.to_dict()
    event_id, event_type = fields.get("id"), fields.get("type")
    if not (isinstance(event_id, str) and 0 < len(event_id) <= 255):
        return refuse(400, "A Stripe event has an id (a string of at most 255 characters).")
    if not (isinstance(event_type, str) and 0 < len(event_type) <= 100):
        return refuse(400, "A Stripe event has a type (a string of at most 100 characters).")
    return store(integration, text, event_id, event_type)


def store(integration: Integration, text: str, event_id: str, event_type: str) -> JsonResponse:
    """Keep the event once: a replay (same id) finds the first row and is not processed."""
    try:
        with transaction.atomic():
            event = InboundEvent.objects.create(
                integration=integration, body=text, external_id=event_id, event_type=event_type
            )
    except IntegrityError:
        first = (
            InboundEvent.objects.filter(integration=integration, external_id=event_id)
            .values_list("pk", flat=True)
            .first()
        )
        if first is None:  # not the event-id constraint after all
            raise
        return JsonResponse({"status": "duplicate", "id": first})
    return accepted(event)


# -- signature failures ------------------------------------------------------------------------
def signature_failed(request: HttpRequest, integration: Integration, reason: str) -> JsonResponse:
    """Answer 400 and keep nothing of the delivery but the fact that it failed."""
    reason = reason[:300]
    # Committed on its own: the security signal must outlive any failure of what follows.
    failure = SignatureFailure.objects.create(
        integration=integration,
        reason=reason,
        remote_addr=request.META.get("REMOTE_ADDR", "")[:64],
    )
    raise_security_signal(integration, failure)
    return refuse(400, f"Signature not verified: {reason}")


def raise_security_signal(integration: Integration, failure: SignatureFailure) -> None:
    """Past the threshold, or while the alert is open, put the failure on the alert's timeline.

    Each failure's row is committed before it counts, so of two concurrent failures the later
    count sees both; the dedup key then keeps them on one incident.
    """
    count = integration.signature_failures.filter(
        at__gt=failure.at - SIGNATURE_FAILURE_WINDOW
    ).count()
    minutes = window_minutes(SIGNATURE_FAILURE_WINDOW)
    with transaction.atomic():
        incident, _ = open_or_join_when(
            count >= SIGNATURE_FAILURE_THRESHOLD,
            integration,
            dedup_key=f"stripe-signature:{integration.pk}",
            title=SECURITY_TITLE,
            severity=Severity.P0,
            summary=(
                f"{count} deliveries to the Stripe integration {integration.name} failed "
                f"signature verification within {minutes} minutes. Nothing they carried was "
                "stored or processed. From this one on, each failure is on the timeline as a "
                "security signal."
            ),
            scenario_title=SECURITY_TITLE,
        )
        if incident is None:
            return
        actions.record(
            incident,
            Kind.SECURITY_SIGNAL,
            None,
            text=f"Stripe signature failure ({count} in {minutes} min): {failure.reason}",
            data={
                "integration": integration.name,
                "remote_addr": failure.remote_addr,
                "count": count,
                "reason": failure.reason,
                "failure_id": failure.pk,
            },
        )


# -- processing --------------------------------------------------------------------------------
def handle_stripe(integration: Integration, event: InboundEvent) -> Outcome:
    """Called by process_event with the event row locked, inside its transaction."""
    payload = parse(event.body)
    event_type = payload.get("type")
    if event_type in PAYMENT_FAILURE_TYPES:
        return payment_failed(integration, event, payload)
    if event_type == DISPUTE_CREATED:
        return dispute_opened(integration, payload)
    return Outcome(InboundEvent.State.PROCESSED)


def parse(body: str) -> dict:
    try:
        payload = json.loads(body)
    except ValueError:
        raise PayloadError("The stored Stripe event is not JSON.") from None
    if not isinstance(payload, dict):
        raise PayloadError("The stored Stripe event is not a JSON object.")
    return payload


def stripe_object(payload: dict) -> dict:
    """The event's `data.object` (the payment intent, charge or dispute), or {}."""
    data = payload.get("data")
    found = data.get("object") if isinstance(data, dict) else None
    return found if isinstance(found, dict) else {}


def payment_failed(integration: Integration, event: InboundEvent, payload: dict) -> Outcome:
    # Serialise this integration's payment failures, so that of two processed at once the
    # second counts the first (it is a new statement after the lock, under READ COMMITTED).
    Integration.objects.select_for_update().filter(pk=integration.pk).first()
    count = recent_payment_failures(integration, event)
    minutes = window_minutes(PAYMENT_FAILURE_WINDOW)
    incident, created = open_or_join_when(
        count >= PAYMENT_FAILURE_THRESHOLD,
        integration,
        dedup_key=f"stripe-payments:{integration.pk}",
        title=f"Payment failures: {count} in {minutes} minutes",
        severity=Severity.P1,
        summary=(
            f"{count} failed payments ({', '.join(PAYMENT_FAILURE_TYPES)}) reached the Stripe "
            f"integration {integration.name} within {minutes} minutes; each further failure "
            "is added to the timeline while this incident is open."
        ),
        scenario_title=PAYMENTS_SCENARIO,
    )
    if incident is None:
        return Outcome(InboundEvent.State.PROCESSED)
    failed = stripe_object(payload)
    code, decline_code, message = failure_reason(failed)
    amount = money(failed.get("amount"), failed.get("currency"))
    actions.record(
        incident,
        Kind.ALERT_FIRING,
        None,
        text=f"{payload['type']}: {message or code or 'no reason given'} ({amount})",
        data={
            "stripe_event": payload.get("id"),
            "stripe_object": failed.get("id"),
            "amount": failed.get("amount"),
            "currency": failed.get("currency"),
            "failure_code": code,
            "decline_code": decline_code,
            "count": count,
        },
    )
    return Outcome(InboundEvent.State.PROCESSED, incident, created)


def recent_payment_failures(integration: Integration, event: InboundEvent) -> int:
    """This failure and the processed ones that arrived since the window's start before it.

    Processed ones that arrived after it count too: workers may take deliveries out of order,
    and the failure processed fifth should find the four others, whichever they are.
    """
    return (
        InboundEvent.objects.filter(
            integration=integration,
            event_type__in=PAYMENT_FAILURE_TYPES,
            received_at__gt=event.received_at - PAYMENT_FAILURE_WINDOW,
        )
        .filter(Q(state=InboundEvent.State.PROCESSED) | Q(pk=event.pk))
        .count()
    )


def failure_reason(failed: dict) -> tuple[str, str, str]:
    """(code, decline code, message): a payment intent keeps them in `last_payment_error`,
    a charge in `failure_code` and `failure_message`."""
    error = failed.get("last_payment_error")
    if isinstance(error, dict):
        fields = (error.get("code"), error.get("decline_code"), error.get("message"))
    else:
        fields = (failed.get("failure_code"), None, failed.get("failure_message"))
    code, decline_code, message = (as_text(value) for value in fields)
    return code, decline_code, message


def dispute_opened(integration: Integration, payload: dict) -> Outcome:
    dispute = stripe_object(payload)
    dispute_id = as_text(dispute.get("id")) or as_text(payload.get("id"))
    reason = as_text(dispute.get("reason")).replace("_", " ") or "no reason given"
    amount = money(dispute.get("amount"), dispute.get("currency"))
    due = evidence_due(dispute)
    incident, created = open_or_join_when(
        True,
        integration,
        dedup_key=f"stripe-dispute:{dispute_id}",
        title=f"Dispute opened: {amount} ({reason})",
        severity=Severity.P2,
        summary=(
            f"Charge {as_text(dispute.get('charge')) or '(unknown)'} is disputed for {amount}, "
            f"reason: {reason}." + (f" Evidence is due by {due}." if due else "")
        ),
    )
    actions.record(
        incident,
        Kind.ALERT_FIRING,
        None,
        text=f"{DISPUTE_CREATED}: {reason} ({amount})",
        data={
            "stripe_event": payload.get("id"),
            "stripe_object": dispute_id,
            "charge": dispute.get("charge"),
            "amount": dispute.get("amount"),
            "currency": dispute.get("currency"),
            "reason": dispute.get("reason"),
            "evidence_due_by": due,
        },
    )
    return Outcome(InboundEvent.State.PROCESSED, incident, created)


def evidence_due(dispute: dict) -> str:
    details = dispute.get("evidence_details")
    due_by = details.get("due_by") if isinstance(details, dict) else None
    if not isinstance(due_by, int) or isinstance(due_by, bool):
        return ""
    return datetime.fromtimestamp(due_by, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


# -- shared --------------------------------------------------------------------------------------
def open_or_join_when(
    over_threshold: bool,
    integration: Integration,
    *,
    dedup_key: str,
    title: str,
    severity: str,
    summary: str,
    scenario_title: str = "",
) -> tuple[Incident | None, bool]:
    """Over the threshold: open the incident (with its runbook scenario) or join the open one.
    Under it: only join an incident already open, so a signal keeps landing on it."""
    if not over_threshold:
        return Incident.objects.open().filter(dedup_key=dedup_key).first(), False
    service = integration.default_service
    return actions.open_or_join(
        dedup_key=dedup_key,
        title=title[:200],
        severity=severity,
        summary=summary,
        services=[service] if service else [],
        scenario=current_scenario(scenario_title),
    )


def money(amount: object, currency: object) -> str:
    """A Stripe amount in the currency's minor unit, for people: 1250, "usd" → "12.50 USD"."""
    code = currency.lower() if isinstance(currency, str) else ""
    if not isinstance(amount, int) or isinstance(amount, bool):
        return "an unknown amount" + (f" of {code.upper()}" if code else "")
    places = 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2
    return f"{Decimal(amount).scaleb(-places):,.{places}f} {code.upper()}".rstrip()


def as_text(value: object) -> str:
    return value if isinstance(value, str) else ""


def window_minutes(window: timedelta) -> int:
    return round(window.total_seconds() / 60)
