"""The profile's paging section: add a method (the code goes out through it), verify it,
set rules, send a test page; someone else's method, wrong codes, bad numbers, wrong roles
and methods are refused."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.test import override_settings
from django.utils import timezone

from incidents.escalation.contacts import ContactMethod, NotificationRule
from tests.conftest import HTMX, client_for
from tests.paging.helpers import SMS_NUMBER, method
from tests.paging.standins import twilio_standin

LOCMEM = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def twilio():
    with (
        twilio_standin("http://testserver") as standin,
        override_settings(
            TWILIO_ACCOUNT_SID=standin.account_sid,
            TWILIO_AUTH_TOKEN=standin.auth_token,
            TWILIO_FROM_NUMBER=standin.from_number,
            TWILIO_API_BASE=standin.url,
        ),
    ):
        yield standin


def code_in(text: str) -> str:
    return re.search(r"\b(\d{6})\b", text).group(1)


@pytest.mark.django_db
def test_a_person_adds_verifies_and_uses_an_sms_number(responder_client, responder, twilio):
    page = responder_client.get("/incidents/profile/")
    assert page.status_code == 200
    assert b'id="paging"' in page.content and b"Send me a test page" in page.content

    added = responder_client.post(
        "/incidents/profile/contacts/", {"kind": "sms", "address": "+1 415 555 0123"}, **HTMX
    )
    assert added.status_code == 200 and b"Code sent to +14155550123" in added.content
    contact = ContactMethod.objects.get(user=responder, kind="sms")
    assert contact.address == SMS_NUMBER and not contact.verified
    (sms,) = twilio.messages
    assert sms["to"] == SMS_NUMBER
    code = code_in(sms["body"])
    assert code not in contact.code_digest  # only its HMAC is stored

    wrong = "000000" if code != "000000" else "111111"
    refused = responder_client.post(
        f"/incidents/profile/contacts/{contact.pk}/verify/", {"code": wrong}, **HTMX
    )
    assert refused.status_code == 422 and b"not the one we sent" in refused.content
    verified = responder_client.post(
        f"/incidents/profile/contacts/{contact.pk}/verify/", {"code": code}, **HTMX
    )
    assert verified.status_code == 200 and b"verified" in verified.content
    contact.refresh_from_db()
    assert contact.verified

    saved = responder_client.post(
        "/incidents/profile/rules/high/",
        {"method": [str(contact.pk), "", ""], "minutes": ["1", "", ""]},
        **HTMX,
    )
    assert saved.status_code == 200 and b"rules saved" in saved.content
    (rule,) = NotificationRule.objects.filter(user=responder)
    assert (rule.urgency, rule.method, rule.delay_minutes) == ("high", contact, 1)

    tested = responder_client.post("/incidents/profile/test-page/", **HTMX)
    assert tested.status_code == 200 and b"Test page sent to SMS +14155550123" in tested.content
    assert "Test page" in twilio.messages[-1]["body"]


@pytest.mark.django_db
@override_settings(EMAIL_BACKEND=LOCMEM)
def test_codes_expire_and_run_out(responder_client, responder):
    responder_client.post("/incidents/profile/contacts/", {"kind": "email", "address": "r@x.io"})
    contact = ContactMethod.objects.get(user=responder)
    code = code_in(mail.outbox[-1].body)
    url = f"/incidents/profile/contacts/{contact.pk}/verify/"
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        response = responder_client.post(url, {"code": code}, **HTMX)
    assert response.status_code == 422 and b"expired" in response.content
    soon = responder_client.post(f"/incidents/profile/contacts/{contact.pk}/code/", **HTMX)
    assert soon.status_code == 422 and b"ask again in" in soon.content
    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        responder_client.post(f"/incidents/profile/contacts/{contact.pk}/code/", **HTMX)
    code = code_in(mail.outbox[-1].body)
    for _ in range(5):
        responder_client.post(url, {"code": "999999" if code != "999999" else "888888"})
    response = responder_client.post(url, {"code": code}, **HTMX)
    assert response.status_code == 422 and b"Too many wrong codes" in response.content
    assert not ContactMethod.objects.get(pk=contact.pk).verified


@pytest.mark.django_db
def test_bad_input_is_refused_with_the_reason(responder_client, responder):
    bad = responder_client.post(
        "/incidents/profile/contacts/", {"kind": "sms", "address": "0415 555"}, **HTMX
    )
    assert bad.status_code == 422 and b"E.164" in bad.content
    assert not ContactMethod.objects.exists()
    unverified = method(responder, "voice", "+14155550124", verified=False)
    refused = responder_client.post(
        "/incidents/profile/rules/high/",
        {"method": [str(unverified.pk)], "minutes": ["0"]},
        **HTMX,
    )
    assert refused.status_code == 422 and b"verify +14155550124 first" in refused.content
    assert not NotificationRule.objects.exists()
    unknown = responder_client.post("/incidents/profile/rules/urgent/", **HTMX)
    assert unknown.status_code == 404
    # Without Twilio configured, the method is kept and the reason shown.
    down = responder_client.post(
        "/incidents/profile/contacts/", {"kind": "sms", "address": SMS_NUMBER}, **HTMX
    )
    assert down.status_code == 422 and b"TWILIO_ACCOUNT_SID is not set" in down.content


@pytest.mark.django_db
def test_permissions_and_methods(responder, lead, outsider, client):
    theirs = method(responder, "sms", SMS_NUMBER)
    lead_client = client_for(lead)
    for action in ("verify", "code", "delete"):
        url = f"/incidents/profile/contacts/{theirs.pk}/{action}/"
        assert lead_client.post(url, {"code": "123456"}).status_code == 404
        assert lead_client.get(url).status_code == 405
    assert ContactMethod.objects.filter(pk=theirs.pk).exists()
    outsider_client = client_for(outsider)
    for url in [
        "/incidents/profile/contacts/",
        "/incidents/profile/test-page/",
        "/incidents/profile/rules/high/",
    ]:
        assert outsider_client.post(url).status_code == 403
        assert client.post(url).status_code == 302  # anonymous: to the login page
    responder_client = client_for(responder)
    removed = responder_client.post(f"/incidents/profile/contacts/{theirs.pk}/delete/")
    assert removed.status_code == 302 and not ContactMethod.objects.exists()


@pytest.mark.django_db
def test_profile_page_queries(responder_client, responder, django_assert_num_queries):
    # session, user, user and group permissions, the notification profile, methods, rules,
    # the API tokens section's tokens
    for n in (1, 4):
        for i in range(n):
            method(responder, "email", f"r{n}-{i}@example.com")
        with django_assert_num_queries(8):
            assert responder_client.get("/incidents/profile/").status_code == 200
