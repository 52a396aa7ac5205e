"""People on call with contact methods and rules, for the paging tests."""

from __future__ import annotations

from datetime import date

from django.contrib.auth.models import Group, User
from django.utils import timezone

from incidents.escalation.contacts import ContactMethod, NotificationRule
from incidents.escalation.defaults import PRIMARY_ROTATION
from incidents.escalation.defaults import install as install_defaults
from incidents.escalation.models import OnCallRotation, RotationMember
from incidents.permissions import RESPONDER, sync_role_groups

SMS_NUMBER = "+14155550123"
VOICE_NUMBER = "+14155550124"


def on_call_person(username: str = "olga", group: str = RESPONDER) -> User:
    """A person in the primary rotation (the first level of every default policy)."""
    sync_role_groups()
    install_defaults()
    user = User.objects.create_user(username, f"{username}@example.com", "x")
    user.groups.add(Group.objects.get(name=group))
    rotation = OnCallRotation.objects.get(name=PRIMARY_ROTATION)
    rotation.starts_on = date(2020, 1, 6)
    rotation.save()
    RotationMember.objects.create(rotation=rotation, user=user, position=0)
    return user


def method(user: User, kind: str, address: str, verified: bool = True) -> ContactMethod:
    return ContactMethod.objects.create(
        user=user, kind=kind, address=address, verified_at=timezone.now() if verified else None
    )


def rules(user: User, urgency: str, *steps: tuple[ContactMethod, int]) -> None:
    for contact, delay in steps:
        NotificationRule.objects.create(
            user=user, urgency=urgency, method=contact, delay_minutes=delay
        )
