"""Setting a person's contact methods and rules in one go (set_contact, the profile page)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from incidents.escalation.contacts import (
    ContactMethod,
    NotificationRule,
    Urgency,
    normalise_address,
)

Kind = ContactMethod.Kind
RULE_KINDS = {"email", "sms", "voice", "push", "slack"}


def parse_rules(text: str) -> list[tuple[str, int]]:
    """'push:0,sms:1,voice:5' → [("push", 0), ("sms", 1), ("voice", 5)]."""
    steps = []
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        kind, _, minutes = part.partition(":")
        kind = kind.strip().lower()
        if kind not in RULE_KINDS:
            raise ValidationError(f"{part!r}: the method is one of {', '.join(sorted(RULE_KINDS))}")
        if not minutes.strip().isdigit() or int(minutes) > 24 * 60:
            raise ValidationError(f"{part!r}: minutes after being paged, 0 to 1440 (sms:1)")
        steps.append((kind, int(minutes)))
    if not steps:
        raise ValidationError("At least one step, such as email:0")
    return steps


def set_method(user, kind: str, address: str, *, verified: bool) -> ContactMethod:
    """The person's method of that kind, now at `address` (one per kind here: replacing the
    address makes it unverified again unless `verified`)."""
    address = normalise_address(kind, address)
    method = ContactMethod.objects.filter(user=user, kind=kind).order_by("id").first()
    if method is None:
        method = ContactMethod(user=user, kind=kind)
    if method.address != address:
        method.address = address
        method.verified_at = None
        method.code_digest = ""
    if verified and method.verified_at is None:
        clash = ContactMethod.objects.filter(
            kind=kind, address=address, verified_at__isnull=False
        ).exclude(user=user)
        if clash.exists():
            raise ValidationError(f"{address} is already verified by someone else.")
        method.verified_at = timezone.now()
    method.save()
    return method


def replace_rules(user, urgency: str, steps: list[tuple[str, int]]) -> list[NotificationRule]:
    """The urgency's rules become `steps`; each names a kind the person has a method of."""
    methods = {m.kind: m for m in ContactMethod.objects.filter(user=user).order_by("-id")}
    missing = sorted({kind for kind, _ in steps if kind not in methods})
    if missing:
        raise ValidationError(f"No {', '.join(missing)} contact method to use in a rule.")
    with transaction.atomic():
        NotificationRule.objects.filter(user=user, urgency=Urgency(urgency)).delete()
        return [
            NotificationRule.objects.create(
                user=user, urgency=urgency, method=methods[kind], delay_minutes=minutes
            )
            for kind, minutes in dict.fromkeys(steps)
        ]


def describe_rules(user, urgency: str) -> str:
    rules = NotificationRule.objects.filter(user=user, urgency=urgency).select_related("method")
    return ",".join(f"{r.method.kind}:{r.delay_minutes}" for r in rules)
