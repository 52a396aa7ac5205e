"""Stripe webhook events: verified before anything is stored, stored once, and read into alerts
only when they mean trouble.

Why it is shaped this way:

- The hook URL's token is not enough for Stripe: anyone who learns the URL could post a fake
  `charge.dispute.created`. Every delivery carries a `Stripe-Signature` (an HMAC of the
  timestamp and body with the endpoint's signing secret); one that does not verify, or whose
  timestamp is more than SIGNATURE_TOLERANCE away from now (either way), is refused as a
  signature failure: the hook keeps only a `SignatureFailure` row, and a burst of them opens a
  P0 "Webhook Security Alert" (see process.signature_failed).
- The secret lives in the environment, named by the integration. When it is missing we answer
  503: Stripe keeps retrying a 5xx for days, so nothing is lost while an operator sets it.
- Stripe delivers at least once and retries until it sees a 2xx, so the same event can arrive
  many times. The event id is the reading's `once_key`: a replay is answered "duplicate" and not
  processed again (unless the first one failed: then the replay processes it again).
- One declined card is business as usual; five failed payments in ten minutes are an outage of
  the checkout (a `Threshold`). A dispute always needs a human (evidence is due by a deadline),
  so each one is an incident of its own.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import stripe

from incidents.intake.formats.base import Alert, Reading, Refusal, Threshold, digest, load_json
from incidents.models import Severity

if TYPE_CHECKING:
    from incidents.intake.models import Integration

LABEL = "Stripe webhooks"
SHORT = "Stripe"  # the list's narrow column
HELP = (
    "Stripe webhook events (payment failures, disputes), each "
    "verified with the endpoint's signing secret."
)

# Stripe's own default: a signature further from now than this is a replay or a skewed clock.
SIGNATURE_TOLERANCE = 300
PAYMENT_FAILURE_THRESHOLD = 5
PAYMENT_FAILURE_WINDOW = timedelta(minutes=10)

PAYMENT_FAILURE_TYPES = ("payment_intent.payment_failed", "charge.failed")
DISPUTE_CREATED = "charge.dispute.created"
PAYMENTS_SCENARIO = "Payment Processing Failure"

# Stripe amounts are in the currency's minor unit; these currencies have none, or three.
ZERO_DECIMAL = {
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga",
    "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf",
}  # fmt: skip
THREE_DECIMAL = {"bhd", "jod", "kwd", "omr", "tnd"}


def authenticate(body: bytes, integration: Integration, headers: Mapping[str, str]) -> None:
    """Refuse a delivery not signed with the integration's secret within the tolerance."""
    if not integration.signing_secret_env:
        raise Refusal("This integration names no environment variable for its secret.", 503)
    secret = os.environ.get(integration.signing_secret_env, "").strip()
    if not secret:
        raise Refusal(
            "The Stripe signing secret is not configured: set the environment variable "
            f"{integration.signing_secret_env} on the console's server.",
            503,
        )
    header = headers.get("Stripe-Signature", "")
    if not header:
        raise Refusal("No Stripe-Signature header.", signature=True)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refusal("The body is not UTF-8 text.", signature=True) from None
    try:
        stripe.WebhookSignature.verify_header(text, header, secret)
        timestamp, _ = stripe.WebhookSignature._get_timestamp_and_signatures(header, "v1")
    except stripe.SignatureVerificationError as exc:
        raise Refusal(str(exc), signature=True) from None
    if abs(time.time() - timestamp) > SIGNATURE_TOLERANCE:
        raise Refusal(
            f"Timestamp outside the tolerance zone ({SIGNATURE_TOLERANCE} s either way).",
            signature=True,
        )


def read(body: bytes, integration: Integration) -> Reading:
    try:
        document = load_json(body)
    except Refusal as exc:
        raise Refusal(f"The body is signed but is not a Stripe event: {exc.reason}") from None
    event_id, event_type = document.get("id"), document.get("type")
    if not (isinstance(event_id, str) and 0 < len(event_id) <= 255):
        raise Refusal("A Stripe event has an id (a string of at most 255 characters).")
    if not (isinstance(event_type, str) and 0 < len(event_type) <= 100):
        raise Refusal("A Stripe event has a type (a string of at most 100 characters).")
    if event_type in PAYMENT_FAILURE_TYPES:
        alerts = [payment_failed(integration, document)]
    elif event_type == DISPUTE_CREATED:
        alerts = [dispute_opened(document)]
    else:
        alerts = []
    return Reading(alerts, once_key=event_id, event_type=event_type)


def stripe_object(payload: dict) -> dict:
    """The event's `data.object` (the payment intent, charge or dispute), or {}."""
    data = payload.get("data")
    found = data.get("object") if isinstance(data, dict) else None
    return found if isinstance(found, dict) else {}


def payment_failed(integration: Integration, payload: dict) -> Alert:
    failed = stripe_object(payload)
    code, decline_code, message = failure_reason(failed)
    amount = money(failed.get("amount"), failed.get("currency"))
    minutes = window_minutes(PAYMENT_FAILURE_WINDOW)
    return Alert(
        group_key=f"stripe-payments:{integration.pk}",
        title=f"Payment failures: {{count}} in {minutes} minutes",
        summary=(
            f"{{count}} failed payments ({', '.join(PAYMENT_FAILURE_TYPES)}) reached the Stripe "
            f"integration {integration.name} within {minutes} minutes; each further failure "
            "is added to the timeline while this incident is open."
        ),
        name=payload["type"],
        fingerprint=f"stripe-{digest(payload['id'])}",
        labels={"alertname": payload["type"]},
        annotations={"summary": f"{message or code or 'no reason given'} ({amount})"},
        severity=Severity.P1,
        scenario=PAYMENTS_SCENARIO,
        threshold=Threshold(PAYMENT_FAILURE_THRESHOLD, PAYMENT_FAILURE_WINDOW),
        note=f"{payload['type']}: {message or code or 'no reason given'} ({amount})",
        data={
            "stripe_event": payload.get("id"),
            "stripe_object": failed.get("id"),
            "amount": failed.get("amount"),
            "currency": failed.get("currency"),
            "failure_code": code,
            "decline_code": decline_code,
        },
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


def dispute_opened(payload: dict) -> Alert:
    dispute = stripe_object(payload)
    dispute_id = as_text(dispute.get("id")) or as_text(payload.get("id"))
    reason = as_text(dispute.get("reason")).replace("_", " ") or "no reason given"
    amount = money(dispute.get("amount"), dispute.get("currency"))
    due = evidence_due(dispute)
    return Alert(
        group_key=f"stripe-dispute:{dispute_id}",
        title=f"Dispute opened: {amount} ({reason})",
        summary=(
            f"Charge {as_text(dispute.get('charge')) or '(unknown)'} is disputed for {amount}, "
            f"reason: {reason}." + (f" Evidence is due by {due}." if due else "")
        ),
        name=DISPUTE_CREATED,
        fingerprint=f"stripe-{digest(dispute_id)}",
        labels={"alertname": DISPUTE_CREATED},
        annotations={"summary": f"{reason} ({amount})"},
        severity=Severity.P2,
        note=f"{DISPUTE_CREATED}: {reason} ({amount})",
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


def evidence_due(dispute: dict) -> str:
    """The evidence deadline for people, or "" when there is none a calendar can show."""
    details = dispute.get("evidence_details")
    due_by = details.get("due_by") if isinstance(details, dict) else None
    if not isinstance(due_by, int) or isinstance(due_by, bool):
        return ""
    try:
        return datetime.fromtimestamp(due_by, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (OverflowError, OSError, ValueError):
        return ""


def money(amount: object, currency: object) -> str:
    """A Stripe amount in the currency's minor unit, for people: 1250, "usd" → "12.50 USD"."""
    code = currency.lower()[:10] if isinstance(currency, str) else ""
    if not isinstance(amount, int) or isinstance(amount, bool):
        return "an unknown amount" + (f" of {code.upper()}" if code else "")
    places = 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2
    return f"{Decimal(amount).scaleb(-places):,.{places}f} {code.upper()}".rstrip()


def as_text(value: object) -> str:
    return value if isinstance(value, str) else ""


def window_minutes(window: timedelta) -> int:
    return round(window.total_seconds() / 60)
