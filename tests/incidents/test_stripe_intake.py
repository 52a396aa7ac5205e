"""Stripe intake: signatures checked as Stripe signs them, replays stored once, signature
failures and payment failures past their thresholds opening one incident, disputes."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connections
from django.test import Client
from django.utils import timezone

from incidents.intake.formats.stripe import money
from incidents.intake.models import InboundEvent, SignatureFailure
from incidents.intake.process import process_event
from incidents.models import Incident, Service, TimelineEvent
from runbooks.importer import import_runbook
from tests.incidents.test_intake import make_integration

Kind = TimelineEvent.Kind
ENV = "STRIPE_WEBHOOK_SECRET_TEST"
SECRET = "whsec_" + "k3Y" * 10

RUNBOOK = (
    "# Payments runbook\n\n## Critical Incidents (P0)\n\n"
    "### Payment Processing Failure\n\n**Symptoms**:\n- Checkout declines pile up\n\n"
    "**Immediate Response**:\n1. Open the Stripe status page\n2. Compare the decline codes\n\n"
    "### Webhook Security Alert\n\n**Symptoms**:\n- Unsigned deliveries to the hook\n\n"
    "**Immediate Response**:\n1. Check the sender addresses\n2. Rotate the signing secret\n"
)


# -- signing and sending, as Stripe does ----------------------------------------------------------
def sign(payload: str, secret: str = SECRET, at: int | None = None) -> str:
    """Stripe's scheme: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<payload>">."""
    timestamp = int(time.time()) if at is None else at
    signed = f"{timestamp}.{payload}".encode()
    return f"t={timestamp},v1={hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}"


def send(client, token: str, event: dict | str, *, header: str | None = None, **extra):
    body = event if isinstance(event, str) else json.dumps(event, indent=2)
    header = sign(body) if header is None else header
    headers = {"Stripe-Signature": header} if header else {}
    return client.post(
        f"/hooks/stripe/{token}/",
        body,
        content_type="application/json",
        headers=headers,
        **extra,
    )


def deliver(client, token: str, event: dict) -> InboundEvent:
    """Through the hook, then processed as the worker does."""
    response = send(client, token, event)
    assert response.status_code == 202, response.content
    process_event(response.json()["id"])
    return InboundEvent.objects.get(pk=response.json()["id"])


def stripe_event(kind: str, obj: dict, event_id: str | None = None) -> dict:
    return {
        "id": event_id or f"evt_{secrets.token_hex(12)}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": f"req_{secrets.token_hex(7)}", "idempotency_key": None},
        "type": kind,
        "data": {"object": obj},
    }


def intent_failed(amount: int = 1250, currency: str = "usd") -> dict:
    return stripe_event(
        "payment_intent.payment_failed",
        {
            "id": f"pi_{secrets.token_hex(12)}",
            "object": "payment_intent",
            "amount": amount,
            "currency": currency,
            "status": "requires_payment_method",
            "last_payment_error": {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": "insufficient_funds",
                "message": "Your card has insufficient funds.",
            },
        },
    )


def charge_failed(amount: int = 4999, currency: str = "eur") -> dict:
    return stripe_event(
        "charge.failed",
        {
            "id": f"ch_{secrets.token_hex(12)}",
            "object": "charge",
            "amount": amount,
            "currency": currency,
            "status": "failed",
            "failure_code": "expired_card",
            "failure_message": "Your card has expired.",
        },
    )


def dispute_created(amount: int = 1250, currency: str = "usd", reason: str = "fraudulent"):
    return stripe_event(
        "charge.dispute.created",
        {
            "id": f"dp_{secrets.token_hex(12)}",
            "object": "dispute",
            "amount": amount,
            "currency": currency,
            "charge": "ch_disputed0001",
            "reason": reason,
            "status": "needs_response",
            "evidence_details": {"due_by": 1795435200, "has_evidence": False},
        },
    )


@pytest.fixture
def hook(db, monkeypatch):
    """A Stripe integration on the Payments service, its secret in the environment."""
    monkeypatch.setenv(ENV, SECRET)
    service = Service.objects.create(name="Payments")
    return make_integration(
        kind="stripe", name="Stripe live", signing_secret_env=ENV, default_service=service
    )


# -- the hook's answers ------------------------------------------------------------------------
def test_a_signed_event_is_stored_with_its_id_and_type_and_accepted(client, hook):
    integration, token = hook
    event = intent_failed()
    response = send(client, token, event)
    assert response.status_code == 202
    stored = InboundEvent.objects.get()
    assert response.json()["id"] == stored.pk
    assert stored.integration == integration and stored.state == "pending"
    assert stored.external_id == event["id"]
    assert stored.event_type == "payment_intent.payment_failed"
    assert stored.body == json.dumps(event, indent=2)  # kept byte for byte, as signed
    assert not SignatureFailure.objects.exists()


def tampered(body: str) -> tuple[str, str]:
    return body.replace("1250", "9999"), sign(body)


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda body: (body, sign(body, secret="whsec_not_ours")), id="wrong-secret"),
        pytest.param(tampered, id="body-changed-after-signing"),
        pytest.param(lambda body: (body, f"t={int(time.time())},v0=abc"), id="no-v1"),
        pytest.param(lambda body: (body, "v1=deadbeef"), id="no-timestamp"),
    ],
)
def test_a_forged_signature_is_400_and_only_the_failure_is_kept(client, hook, forge):
    integration, token = hook
    body, header = forge(json.dumps(intent_failed(), indent=2))
    response = send(client, token, body, header=header, REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 400
    assert response.json()["error"].startswith("Signature not verified: ")
    assert not InboundEvent.objects.exists()
    failure = SignatureFailure.objects.get()
    assert failure.integration == integration and failure.remote_addr == "203.0.113.7"
    assert failure.reason in response.json()["error"]
    assert not Incident.objects.exists()


def test_a_stale_signature_is_400_even_when_the_secret_is_right(client, hook):
    _, token = hook
    body = json.dumps(intent_failed())
    old = send(client, token, body, header=sign(body, at=int(time.time()) - 301))
    assert old.status_code == 400 and "tolerance" in old.json()["error"]
    assert not InboundEvent.objects.exists()
    assert "tolerance" in SignatureFailure.objects.get().reason
    # Just inside the 300 s tolerance: accepted.
    recent = send(client, token, body, header=sign(body, at=int(time.time()) - 290))
    assert recent.status_code == 202


def test_a_missing_signature_header_is_400(client, hook):
    _, token = hook
    response = send(client, token, intent_failed(), header="")
    assert response.status_code == 400
    assert "No Stripe-Signature header" in response.json()["error"]
    assert not InboundEvent.objects.exists()
    assert SignatureFailure.objects.get().reason == "No Stripe-Signature header."


@pytest.mark.parametrize("value", [None, "", "  \n"])
def test_without_the_secret_in_the_environment_the_answer_is_503(client, hook, monkeypatch, value):
    _, token = hook
    if value is None:
        monkeypatch.delenv(ENV)
    else:
        monkeypatch.setenv(ENV, value)
    response = send(client, token, intent_failed())
    assert response.status_code == 503
    assert ENV in response.json()["error"]
    assert not InboundEvent.objects.exists() and not SignatureFailure.objects.exists()


def test_an_integration_naming_no_secret_variable_answers_503(client, db):
    _, token = make_integration(kind="stripe")
    response = send(client, token, intent_failed())
    assert response.status_code == 503
    assert "names no environment variable" in response.json()["error"]
    assert not InboundEvent.objects.exists() and not SignatureFailure.objects.exists()


def test_a_signed_body_that_is_not_an_event_is_400_but_no_security_signal(client, hook):
    _, token = hook
    for body in ("{not json", "[1, 2]", '{"object": "event", "type": "charge.failed"}'):
        response = send(client, token, body)
        assert response.status_code == 400, body
        assert "error" in response.json()
    assert not InboundEvent.objects.exists() and not SignatureFailure.objects.exists()


def test_a_replayed_event_is_stored_once_and_answered_duplicate(client, hook):
    _, token = hook
    event = intent_failed()
    first = send(client, token, event)
    # Stripe signs each retry afresh: a new timestamp, the same event id.
    again = send(client, token, event, header=sign(json.dumps(event, indent=2)))
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate", "id": first.json()["id"]}
    assert InboundEvent.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_replayed_event_is_processed_once_with_the_broker_down(client, dead_broker, monkeypatch):
    # The hook remembers in the cache that it kicked a worker for an integration (pks are
    # reused between tests); forget, so this delivery really meets the dead broker.
    cache.clear()
    monkeypatch.setenv(ENV, SECRET)
    _, token = make_integration(kind="stripe", signing_secret_env=ENV)
    event = dispute_created()
    first = send(client, token, event)
    assert first.status_code == 202 and first.json()["status"] == "processed"
    assert first.json()["incident"].startswith("INC-")
    assert send(client, token, event).json()["status"] == "duplicate"
    incident = Incident.objects.get()
    assert incident.events.filter(kind=Kind.ALERT_FIRING).count() == 1
    assert InboundEvent.objects.get().state == "processed"


# -- signature failures as a security signal -----------------------------------------------------
def forge(client, token: str, addr: str = "198.51.100.23"):
    body = json.dumps(intent_failed())
    return send(client, token, body, header=sign(body, secret="whsec_guess"), REMOTE_ADDR=addr)


def test_five_failures_in_ten_minutes_open_one_security_alert(client, hook):
    integration, token = hook
    version = import_runbook(RUNBOOK, filename="payments.md").version
    for _ in range(4):
        assert forge(client, token).status_code == 400
    assert not Incident.objects.exists()

    forge(client, token)
    incident = Incident.objects.get()
    assert incident.title == "Webhook Security Alert" and incident.severity == "P0"
    assert incident.dedup_key == f"stripe-signature:{integration.pk}"
    assert list(incident.services.values_list("name", flat=True)) == ["Payments"]
    [run] = incident.checklist_runs.all()
    assert run.scenario.title == "Webhook Security Alert" and run.scenario.version == version
    [signal] = incident.events.filter(kind=Kind.SECURITY_SIGNAL)
    assert signal.data["count"] == 5 and signal.data["remote_addr"] == "198.51.100.23"

    forge(client, token, addr="192.0.2.99")
    assert Incident.objects.count() == 1
    signals = list(incident.events.filter(kind=Kind.SECURITY_SIGNAL))
    assert len(signals) == 2
    assert signals[1].data["count"] == 6 and signals[1].data["remote_addr"] == "192.0.2.99"
    assert "6 in 10 min" in signals[1].text and "No signatures found" in signals[1].text
    assert incident.checklist_runs.count() == 1
    assert not InboundEvent.objects.exists()


def test_failures_older_than_the_window_do_not_count(client, hook):
    integration, token = hook
    long_ago = timezone.now() - timedelta(minutes=11)
    SignatureFailure.objects.bulk_create(
        SignatureFailure(integration=integration, at=long_ago, reason="old") for _ in range(4)
    )
    for _ in range(4):
        forge(client, token)
    assert SignatureFailure.objects.count() == 8
    assert not Incident.objects.exists()


def test_while_the_alert_is_open_every_failure_lands_on_it(client, hook):
    _, token = hook
    for _ in range(5):
        forge(client, token)
    incident = Incident.objects.get()
    # The burst ages out of the window; the incident is still being worked on.
    SignatureFailure.objects.update(at=timezone.now() - timedelta(minutes=30))
    forge(client, token)
    assert Incident.objects.count() == 1
    assert incident.events.filter(kind=Kind.SECURITY_SIGNAL).count() == 2
    assert incident.events.filter(kind=Kind.SECURITY_SIGNAL).last().data["count"] == 1


# -- payment failures --------------------------------------------------------------------------
def test_payment_failures_below_the_threshold_open_nothing(client, hook):
    _, token = hook
    for _ in range(4):
        event = deliver(client, token, intent_failed())
        assert event.state == "processed" and event.incident is None
    assert not Incident.objects.exists()


def test_the_fifth_payment_failure_opens_a_p1_and_later_ones_join_it(client, hook):
    integration, token = hook
    import_runbook(RUNBOOK, filename="payments.md")
    for _ in range(2):
        deliver(client, token, charge_failed())
    for _ in range(2):
        deliver(client, token, intent_failed())
    fifth = deliver(client, token, intent_failed(amount=1250, currency="usd"))
    incident = Incident.objects.get()
    assert fifth.incident == incident
    assert incident.title == "Payment failures: 5 in 10 minutes" and incident.severity == "P1"
    assert incident.dedup_key == f"stripe-payments:{integration.pk}"
    assert list(incident.services.values_list("name", flat=True)) == ["Payments"]
    [run] = incident.checklist_runs.all()
    assert run.scenario.title == "Payment Processing Failure"
    [firing] = incident.events.filter(kind=Kind.ALERT_FIRING)
    assert firing.text == (
        "payment_intent.payment_failed: Your card has insufficient funds. (12.50 USD)"
    )
    assert firing.data["amount"] == 1250 and firing.data["currency"] == "usd"
    assert firing.data["failure_code"] == "card_declined"
    assert firing.data["decline_code"] == "insufficient_funds"
    assert firing.data["stripe_object"].startswith("pi_")

    sixth = deliver(client, token, charge_failed(amount=4999, currency="eur"))
    assert sixth.incident == incident and Incident.objects.count() == 1
    latest = incident.events.filter(kind=Kind.ALERT_FIRING).last()
    assert latest.text == "charge.failed: Your card has expired. (49.99 EUR)"
    assert latest.data["failure_code"] == "expired_card"
    assert incident.checklist_runs.count() == 1


def test_payment_failures_outside_the_window_or_unprocessed_do_not_count(client, hook):
    integration, token = hook
    long_ago = timezone.now() - timedelta(minutes=11)
    for state in ("processed", "processed", "processed"):
        InboundEvent.objects.create(
            integration=integration,
            body="{}",
            event_type="charge.failed",
            state=state,
            received_at=long_ago,
        )
    InboundEvent.objects.create(  # waiting in the queue: counted once it is processed
        integration=integration, body="{}", event_type="charge.failed", state="pending"
    )
    for _ in range(4):
        deliver(client, token, charge_failed())
    assert not Incident.objects.exists()


# -- disputes and everything else --------------------------------------------------------------
def test_a_dispute_opens_a_p2_with_the_amount_for_people(client, hook):
    _, token = hook
    event = dispute_created(amount=1250, currency="usd", reason="product_not_received")
    stored = deliver(client, token, event)
    incident = stored.incident
    assert incident.title == "Dispute opened: 12.50 USD (product not received)"
    assert incident.severity == "P2"
    assert incident.dedup_key == f"stripe-dispute:{event['data']['object']['id']}"
    assert list(incident.services.values_list("name", flat=True)) == ["Payments"]
    assert "ch_disputed0001" in incident.summary and "2026-11-23 12:00 UTC" in incident.summary
    [firing] = incident.events.filter(kind=Kind.ALERT_FIRING)
    assert firing.data["reason"] == "product_not_received"
    # Another dispute is another incident.
    deliver(client, token, dispute_created(amount=500000, currency="jpy"))
    assert Incident.objects.count() == 2
    assert Incident.objects.filter(title="Dispute opened: 500,000 JPY (fraudulent)").exists()


def test_an_unknown_event_type_is_processed_without_an_incident(client, hook):
    _, token = hook
    event = deliver(client, token, stripe_event("customer.created", {"id": "cus_1"}))
    assert event.state == "processed" and event.incident is None
    assert event.event_type == "customer.created"
    assert not Incident.objects.exists()


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (1250, "usd", "12.50 USD"),
        (5, "eur", "0.05 EUR"),
        (123456789, "gbp", "1,234,567.89 GBP"),
        (500000, "jpy", "500,000 JPY"),
        (12340, "kwd", "12.340 KWD"),
        (None, "usd", "an unknown amount of USD"),
    ],
)
def test_amounts_are_shown_in_major_units(amount, currency, shown):
    assert money(amount, currency) == shown


# -- concurrency -------------------------------------------------------------------------------
def in_threads(work, items: list, threads: int = 6) -> None:
    barrier = threading.Barrier(threads)
    failures: list[BaseException] = []

    def run(batch: list) -> None:
        try:
            barrier.wait(timeout=30)
            for item in batch:
                work(item)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=run, args=(items[i::threads],)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert failures == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_payment_failures_are_counted_exactly():
    integration, _ = make_integration(kind="stripe", signing_secret_env=ENV)
    events = []
    for _ in range(12):
        event = intent_failed()
        events.append(
            InboundEvent.objects.create(
                integration=integration,
                body=json.dumps(event),
                external_id=event["id"],
                event_type=event["type"],
            ).pk
        )
    in_threads(process_event, events)
    incident = Incident.objects.get()
    assert incident.title == "Payment failures: 5 in 10 minutes"
    # Processing is serialised per integration: failures 5 to 12 each land on the incident.
    assert incident.events.filter(kind=Kind.ALERT_FIRING).count() == 8
    assert set(InboundEvent.objects.values_list("state", flat=True)) == {"processed"}


@pytest.mark.django_db(transaction=True)
def test_concurrent_signature_failures_open_one_security_alert(monkeypatch):
    monkeypatch.setenv(ENV, SECRET)
    _, token = make_integration(kind="stripe", signing_secret_env=ENV)
    in_threads(lambda _: forge(Client(), token), list(range(12)))
    assert SignatureFailure.objects.count() == 12
    incident = Incident.objects.get()
    assert incident.title == "Webhook Security Alert"
    # Every failure counts the rows committed before its count, so at least the last eight
    # see five or more; the dedup key keeps them all on one incident.
    assert incident.events.filter(kind=Kind.SECURITY_SIGNAL).count() >= 8
