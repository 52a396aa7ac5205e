"""No 5xx from any body: the JSON encodings, bounded nesting and numbers, Stripe's tolerance
both ways, and a signed Stripe event that can't be processed failing visibly."""

from __future__ import annotations

import codecs
import json
import time

import pytest

from incidents.intake.formats.base import MAX_DEPTH, MAX_NUMBER_DIGITS
from incidents.intake.models import InboundEvent, SignatureFailure
from incidents.intake.process import MAX_ATTEMPTS, drain, process_event
from incidents.models import Incident
from tests.incidents.payloads import ALERTMANAGER
from tests.incidents.test_intake import make_integration, post
from tests.incidents.test_stripe_intake import dispute_created, hook, send, sign  # noqa: F401

TEXT = json.dumps(ALERTMANAGER, ensure_ascii=False).replace("95%", "95% ✓ 💥")


@pytest.mark.parametrize(
    "body",
    [
        codecs.BOM_UTF8 + TEXT.encode("utf-8"),
        codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"),
        codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"),
        codecs.BOM_UTF32_LE + TEXT.encode("utf-32-le"),
        codecs.BOM_UTF32_BE + TEXT.encode("utf-32-be"),
        TEXT.encode("utf-16-le"),  # no BOM: told by the zero bytes (RFC 4627 §3)
        TEXT.encode("utf-16-be"),
        TEXT.encode("utf-32-le"),
        TEXT.encode("utf-32-be"),
    ],
    ids=["utf8-bom", "utf16le-bom", "utf16be-bom", "utf32le-bom", "utf32be-bom", "utf16le",
         "utf16be", "utf32le", "utf32be"],
)  # fmt: skip
def test_every_json_encoding_is_read(client, db, body):
    integration, token = make_integration()
    response = post(client, integration, token, body)
    assert response.status_code == 202, response.content
    event = InboundEvent.objects.get()
    process_event(event.pk)
    event.refresh_from_db()
    assert event.state == "processed" and json.loads(event.body) == json.loads(TEXT)
    assert (
        event.incident.alerts.get(fingerprint="c0ffee0123456789")
        .annotations["summary"]
        .endswith("95% ✓ 💥 of max_connections")
    )


def deep(levels: int) -> str:
    return '{"version": "4", "x": ' + "[" * levels + "]" * levels + "}"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (deep(1000), f"nests deeper than {MAX_DEPTH} levels"),
        (deep(100_000), f"nests deeper than {MAX_DEPTH} levels"),
        ('{"version": "4", "n": ' + "9" * 5000 + "}", f"more than {MAX_NUMBER_DIGITS} digits"),
        ('{"version": "4", "n": 1e999}', "out of range"),
        ('{"version": "4", "n": NaN}', "NaN is not a JSON value"),
        ('{"version": "4", "n": -Infinity}', "-Infinity is not a JSON value"),
        (b"\xff\xfe\x00", "not UTF-16-LE text"),
        (b'{"title": "\xc3\x28"}', "not UTF-8 text"),
        (b'{"title": "\xed\xa0\x80"}', "not UTF-8 text"),  # a surrogate encoded in UTF-8
        (b"", "not JSON"),
        (b"\x00", "not JSON"),
        ("[1, 2]", "must be a JSON object"),
    ],
)
def test_a_body_the_parser_cannot_take_is_400_with_a_reason(client, db, body, reason):
    integration, token = make_integration()
    response = post(client, integration, token, body)
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert not InboundEvent.objects.exists()


def test_nesting_within_the_bound_is_read(client, db):
    integration, token = make_integration("generic")
    details = {"x": json.loads("[" * (MAX_DEPTH - 3) + "]" * (MAX_DEPTH - 3))}
    response = post(client, integration, token, {"title": "deep", "details": details})
    assert response.status_code == 202
    process_event(response.json()["id"])
    assert Incident.objects.get().title == "deep"


def test_a_chunked_body_without_a_server_that_ends_it_is_411(client, db):
    integration, token = make_integration()
    response = client.post(
        f"/hooks/alertmanager/{token}/",
        json.dumps(ALERTMANAGER),
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
    )
    assert response.status_code == 411 and "Content-Length" in response.json()["error"]


# -- Stripe --------------------------------------------------------------------------------------
def test_a_signature_from_the_future_is_refused_like_a_stale_one(client, hook):  # noqa: F811
    _, token = hook
    event = dispute_created()
    body = json.dumps(event)
    for skew in (3600, -3600):
        response = send(client, token, body, header=sign(body, at=int(time.time()) + skew))
        assert response.status_code == 400
        assert "tolerance" in response.json()["error"]
    assert SignatureFailure.objects.count() == 2 and not InboundEvent.objects.exists()
    # Within the tolerance either way: accepted.
    assert send(client, token, body, header=sign(body, at=int(time.time()) + 60)).status_code == 202


def test_a_signed_event_nested_too_deep_is_400_and_no_security_signal(client, hook):  # noqa: F811
    _, token = hook
    event = dispute_created()
    event["data"]["object"]["metadata"] = "HERE"
    body = json.dumps(event).replace('"HERE"', "[" * 5000 + "]" * 5000)
    response = send(client, token, body)
    assert response.status_code == 400
    assert "signed but is not a Stripe event" in response.json()["error"]
    assert not SignatureFailure.objects.exists() and not InboundEvent.objects.exists()


def test_a_dispute_due_beyond_any_calendar_still_opens_its_incident(client, hook):  # noqa: F811
    _, token = hook
    event = dispute_created()
    event["data"]["object"]["evidence_details"]["due_by"] = 10**20
    response = send(client, token, event)
    assert response.status_code == 202
    process_event(response.json()["id"])
    stored = InboundEvent.objects.get()
    assert stored.state == "processed" and stored.incident.title.startswith("Dispute opened")
    assert "Evidence is due" not in stored.incident.summary


def test_a_signed_event_that_fails_is_kept_failed_and_its_resend_processes_it(
    client,
    hook,  # noqa: F811
):
    from incidents.intake.models import RoutingRule

    _, token = hook
    rule = RoutingRule.objects.create(
        name="broken", conditions=[{"field": "title", "op": "regex", "value": "(x"}]
    )
    event = dispute_created()
    body = json.dumps(event)
    assert send(client, token, body).status_code == 202
    stored = InboundEvent.objects.get()
    for _ in range(MAX_ATTEMPTS):
        InboundEvent.objects.filter(pk=stored.pk).update(next_attempt_at=None)
        drain(stored.integration_id)
    stored.refresh_from_db()
    assert stored.state == "failed" and "unterminated subpattern" in stored.error
    rule.delete()
    # Stripe retries a delivery it saw fail; here it was answered 202, so a resend comes only
    # from a person ("Resend" in Stripe's dashboard): it is processed, not answered duplicate.
    response = send(client, token, body)
    assert response.status_code == 202 and response.json()["id"] == stored.pk
    process_event(stored.pk)
    stored.refresh_from_db()
    assert stored.state == "processed" and stored.incident is not None
    assert InboundEvent.objects.count() == 1
    # Processed once: a further resend is the duplicate it is.
    assert send(client, token, body).json()["status"] == "duplicate"
