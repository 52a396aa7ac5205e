"""The default ladders, from the team's runbooks: acknowledgement targets per severity (P0
15 min, P1 1 h, P2 4 h, P3 a day) and the P0 escalation path (on-call at once, platform lead
and senior engineer after 15 min, CTO and external support after 30, CEO after an hour).

A target is ("rotation", name) or ("group", name). Leads edit the policies afterwards.
"""

from __future__ import annotations

PRIMARY_ROTATION = "Primary on-call"

# severity: (ack minutes, [(name, delay minutes, target, channels)])
DEFAULT_POLICIES: dict[str, tuple[int, list[tuple[str, int, tuple[str, str], list[str]]]]] = {
    "P0": (
        15,
        [
            ("On-call engineer", 0, ("rotation", PRIMARY_ROTATION), ["email", "slack"]),
            ("Platform lead + senior engineer", 15, ("group", "Lead"), ["email", "slack"]),
            ("CTO + external support", 30, ("group", "Manager"), ["email", "slack", "webhook"]),
            ("CEO (customer communication)", 60, ("group", "Manager"), ["email", "webhook"]),
        ],
    ),
    "P1": (
        60,
        [
            ("On-call engineer", 0, ("rotation", PRIMARY_ROTATION), ["email", "slack"]),
            ("Engineering lead", 60, ("group", "Lead"), ["email", "slack"]),
        ],
    ),
    "P2": (
        240,
        [
            ("On-call engineer", 0, ("rotation", PRIMARY_ROTATION), ["email", "slack"]),
            ("Engineering lead (target missed)", 240, ("group", "Lead"), ["email"]),
        ],
    ),
    "P3": (
        1440,
        [("On-call engineer, next business day", 0, ("rotation", PRIMARY_ROTATION), ["email"])],
    ),
}


def install(models=None) -> bool:
    """Create the default policies and the empty primary rotation, on a database without
    policies. `models`: the migration's historical models (apps.get_model), else the real
    ones (a flushed test database, seed_demo). True when it created them."""
    import datetime

    if models is None:
        from django.contrib.auth.models import Group

        from incidents.escalation.models import EscalationLevel, EscalationPolicy, OnCallRotation

        models = {
            "Policy": EscalationPolicy,
            "Level": EscalationLevel,
            "Rotation": OnCallRotation,
            "Group": Group,
        }
    Policy, Level, Rotation, Group = (
        models["Policy"],
        models["Level"],
        models["Rotation"],
        models["Group"],
    )
    if Policy.objects.exists():
        return False
    rotation, _ = Rotation.objects.get_or_create(
        name=PRIMARY_ROTATION,
        defaults={
            "period": "weekly",
            "handoff_time": datetime.time(9, 0),
            "timezone": "UTC",
            "starts_on": datetime.date(2026, 1, 5),
        },
    )
    for severity, (ack_minutes, levels) in DEFAULT_POLICIES.items():
        policy = Policy.objects.create(severity=severity, ack_minutes=ack_minutes)
        for position, (name, delay, (kind, target), channels) in enumerate(levels, start=1):
            level = Level(
                policy=policy, position=position, name=name, delay_minutes=delay, channels=channels
            )
            if kind == "rotation":
                level.rotation = rotation
            else:
                level.group, _ = Group.objects.get_or_create(name=target)
            level.save()
    return True
