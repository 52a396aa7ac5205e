"""Is the Celery worker up, is beat up? Read from their heartbeats (console.heartbeats)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from console import heartbeats

WHAT_STOPS = {
    "worker": (
        "Celery worker",
        "Pages, escalation steps, probe runs and \u201cRun check\u201d wait in the queue until "
        "it is back. Everything you type is saved.",
    ),
    "beat": (
        "Scheduler (Celery beat)",
        "Scheduled probes, acknowledgement deadlines and escalation sweeps are not running. "
        "Everything you type is saved.",
    ),
}


@dataclass(frozen=True)
class Down:
    name: str
    label: str
    consequence: str
    last_seen: datetime | None

    @property
    def age(self) -> timedelta | None:
        return None if self.last_seen is None else timezone.now() - self.last_seen


def down_components() -> list[Down]:
    """The components whose heartbeat is missing or stale, in COMPONENTS order (one query)."""
    from probes.models import Heartbeat

    seen = dict(
        Heartbeat.objects.filter(name__in=heartbeats.COMPONENTS).values_list("name", "beat_at")
    )
    cutoff = timezone.now() - heartbeats.stale_after()
    down = []
    for name in heartbeats.COMPONENTS:
        last = seen.get(name)
        if last is None or last < cutoff:
            label, consequence = WHAT_STOPS[name]
            down.append(Down(name, label, consequence, last))
    return down
