"""`manage.py set_contact`: methods, verification and rules in one call; bad input refused
with the reason and nothing stored."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from incidents.escalation.contacts import ContactMethod, NotificationRule


def run(*args: str) -> str:
    out = StringIO()
    call_command("set_contact", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_set_contact_provisions_methods_and_rules():
    olga = User.objects.create_user("olga", "olga@example.com", "x")
    out = run(
        "olga",
        "--email",
        "olga@pager.example.com",
        "--sms",
        "+1 (415) 555-0123",
        "--voice",
        "+14155550124",
        "--ntfy-topic",
        "oncall-olga",
        "--slack",
        "U024BE7LH",
        "--verified",
        "--rules",
        "push:0,sms:1,voice:5",
        "--low-rules",
        "email:0",
    )
    assert "SMS: +14155550123 (verified)" in out
    methods = {m.kind: m for m in ContactMethod.objects.filter(user=olga)}
    assert set(methods) == {"email", "sms", "voice", "push", "slack"}
    assert all(m.verified for m in methods.values())
    high = NotificationRule.objects.filter(user=olga, urgency="high").order_by("delay_minutes")
    assert [(r.method.kind, r.delay_minutes) for r in high] == [
        ("push", 0),
        ("sms", 1),
        ("voice", 5),
    ]
    low = NotificationRule.objects.filter(user=olga, urgency="low")
    assert [(r.method.kind, r.delay_minutes) for r in low] == [("email", 0)]

    # Again with a new number: the same method, now unverified; the rules are replaced.
    out = run("olga", "--sms", "+14155550999", "--rules", "sms:0")
    sms = ContactMethod.objects.get(user=olga, kind="sms")
    assert sms.address == "+14155550999" and not sms.verified
    assert "not verified" in out
    assert NotificationRule.objects.filter(user=olga, urgency="high").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args, message",
    [
        (["nobody"], "No user"),
        (["olga", "--sms", "0415 555"], "E.164"),
        (["olga", "--slack", "not-an-id"], "Slack member id"),
        (["olga", "--rules", "pigeon:0"], "the method is one of"),
        (["olga", "--rules", "sms:soon"], "minutes after being paged"),
        (["olga", "--rules", "voice:5"], "No voice contact method"),
    ],
)
def test_set_contact_refuses_bad_input_and_stores_nothing(args, message):
    User.objects.create_user("olga", "olga@example.com", "x")
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert not ContactMethod.objects.exists() and not NotificationRule.objects.exists()


@pytest.mark.django_db
def test_a_number_verified_by_someone_else_is_refused():
    User.objects.create_user("olga", "olga@example.com", "x")
    User.objects.create_user("lars", "lars@example.com", "x")
    run("olga", "--sms", "+14155550123", "--verified")
    with pytest.raises(CommandError, match="already verified by someone else"):
        run("lars", "--sms", "+14155550123", "--verified")
