from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.utils import timezone

from incidents.models import Role, Status

register = template.Library()


@register.filter
def duration(value: timedelta | None) -> str:
    """Compact duration for a glance: 45s, 12m, 3h 05m, 2d 4h."""
    if value is None:
        return ""
    seconds = int(abs(value.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    minutes, _ = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


@register.filter
def seconds(value: int | float | None) -> str:
    return duration(timedelta(seconds=value)) if value is not None else ""


@register.filter
def age(value: datetime | None) -> str:
    return duration(timezone.now() - value) if value else ""


@register.simple_tag
def between(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return ""
    return duration(end - start)


@register.filter
def role_label(value: str) -> str:
    try:
        return Role(value).label
    except ValueError:
        return value


@register.filter
def status_label(value: str) -> str:
    try:
        return Status(value).label
    except ValueError:
        return value


@register.filter
def isoformat(value: datetime | None) -> str:
    return value.isoformat() if value else ""


@register.filter
def clock(value: datetime | None) -> str:
    """14:02:09 for today, 21 Nov 14:02 for other days (an incident can span midnight)."""
    if value is None:
        return ""
    local = timezone.localtime(value)
    if local.date() == timezone.localdate():
        return local.strftime("%H:%M:%S")
    return local.strftime("%d %b %H:%M")


@register.filter
def is_overdue_at(review, now: datetime) -> bool:
    """A post-incident review past its due time and not published."""
    return review.is_overdue(now)


@register.filter
def item_overdue(item, today) -> bool:
    return item.is_overdue(today)
