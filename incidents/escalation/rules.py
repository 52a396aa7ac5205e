"""What a paged person's notification rules make of a page: the ordered steps (method, minutes
after being paged) for the incident's urgency, or the defaults for someone with no rules of
that urgency."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from incidents.escalation.contacts import ContactMethod, NotificationRule, Urgency

Kind = ContactMethod.Kind
# With no rules of their own: email at once; for high urgency also push at once, SMS at 1 min
# and a call at 5 min, through whichever of those the person has verified.
DEFAULT_DELAYS = {
    Urgency.HIGH: [(Kind.EMAIL, 0), (Kind.PUSH, 0), (Kind.SMS, 1), (Kind.VOICE, 5)],
    Urgency.LOW: [(Kind.EMAIL, 0)],
}


@dataclass
class Step:
    kind: str
    address: str
    delay_minutes: int
    method: ContactMethod | None = None
    skip_reason: str = ""


def unavailable(method: ContactMethod) -> str:
    """Why a method can't be paged now, or ""."""
    if not method.verified:
        return f"{method.get_kind_display()} {method.address} is not verified"
    if method.kind == Kind.SMS and method.opted_out_at:
        return f"{method.address} replied STOP"
    if method.kind in (Kind.SMS, Kind.VOICE):
        from incidents.escalation.channels import twilio

        return twilio.missing()
    if method.kind == Kind.PUSH:
        return "" if settings.NTFY_BASE_URL else "NTFY_BASE_URL is not set"
    if method.kind == Kind.SLACK:
        return "" if settings.SLACK_BOT_TOKEN else "SLACK_BOT_TOKEN is not set"
    return ""


def account_email(person) -> str:
    # A missing profile raises RelatedObjectDoesNotExist, an AttributeError.
    profile = getattr(person, "notification_profile", None)
    return (profile.email if profile else "") or person.email


def steps_for(person, urgency: str, methods: list[ContactMethod], rules: list) -> list[Step]:
    """The person's steps, in order of delay. `methods` and `rules` are the person's (read in
    one query each for everyone paged)."""
    mine = [r for r in rules if r.urgency == urgency]
    steps: list[Step] = []
    if mine:
        for rule in sorted(mine, key=lambda r: (r.delay_minutes, r.pk)):
            method = rule.method
            steps.append(
                Step(method.kind, method.address, rule.delay_minutes, method, unavailable(method))
            )
        return steps
    for kind, delay in DEFAULT_DELAYS[Urgency(urgency)]:
        candidates = [m for m in methods if m.kind == kind and m.verified]
        if kind == Kind.EMAIL and not candidates:
            address = account_email(person)
            steps.append(Step(kind, address, delay, None, "" if address else "no email address"))
            continue
        for method in candidates:
            reason = unavailable(method)
            if reason and kind != Kind.EMAIL:
                continue  # a default never pages through a channel that is switched off
            steps.append(Step(kind, method.address, delay, method, reason))
    return steps


def load(people: list) -> tuple[dict[int, list], dict[int, list]]:
    """Everyone's methods and rules: two queries."""
    ids = [p.pk for p in people]
    methods: dict[int, list] = {pk: [] for pk in ids}
    rules: dict[int, list] = {pk: [] for pk in ids}
    for method in ContactMethod.objects.filter(user_id__in=ids).order_by("id"):
        methods[method.user_id].append(method)
    for rule in NotificationRule.objects.filter(user_id__in=ids).select_related("method"):
        rules[rule.user_id].append(rule)
    return methods, rules
