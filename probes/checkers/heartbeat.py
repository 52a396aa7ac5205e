"""Heartbeats (dead man's switches): the job pings the console, and silence is the failure.

A heartbeat expects a ping every `period` seconds, or at the times of a cron `schedule` read in
its `tz`, and tolerates `grace` seconds of lateness. A run that reported `/start` and has not
finished within `grace` is late too (as healthchecks.io counts it). Nothing is run against a
target: the dispatcher's sweep claims a heartbeat when its deadline passes and `evaluate`
judges it from the pings recorded on the probe row (see probes.pings).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from django.utils import timezone

from probes.checkers.base import CheckResult, raise_errors

# Checks on a heartbeat are the dispatcher's 5 s sweep: a shorter period would not be kept.
MIN_PERIOD = 5
MAX_SECONDS = 366 * 24 * 3600


def _seconds(config: dict, key: str, errors: dict, minimum: int) -> int | None:
    value = config.get(key)
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not (minimum <= value <= MAX_SECONDS)
    ):
        errors[key] = f"Expected whole seconds between {minimum} and {MAX_SECONDS}."
        return None
    return value


def clean(config: dict) -> dict:
    """{"period": 3600, "grace": 300} or {"schedule": "0 3 * * *", "tz": "Europe/Paris",
    "grace": 600}."""
    errors: dict[str, str] = {}
    unknown = set(config) - {"period", "schedule", "tz", "grace"}
    if unknown:
        errors["config"] = f"Unknown keys: {', '.join(sorted(unknown))}."
    cleaned: dict = {}
    grace = _seconds(config, "grace", errors, 0) if "grace" in config else 0
    cleaned["grace"] = grace
    has_period, has_schedule = "period" in config, bool(config.get("schedule"))
    if has_period == has_schedule:
        errors["period"] = "Give either a period in seconds or a cron schedule, not both."
    elif has_period:
        cleaned["period"] = _seconds(config, "period", errors, MIN_PERIOD)
    else:
        schedule, tz = config.get("schedule"), config.get("tz") or "UTC"
        if not isinstance(schedule, str):
            errors["schedule"] = "Expected a cron expression such as '0 3 * * *'."
        else:
            try:
                CronSim(schedule, timezone.now())
            except CronSimError as exc:
                errors["schedule"] = f"Not a cron expression: {exc}."
        try:
            ZoneInfo(tz) if isinstance(tz, str) else None
        except (ZoneInfoNotFoundError, ValueError):
            errors["tz"] = f"Unknown time zone “{tz}”: name an IANA zone (Europe/Paris)."
        if not isinstance(tz, str):
            errors["tz"] = "Expected an IANA time zone name."
        cleaned.update(schedule=schedule, tz=tz)
    raise_errors(errors)
    return cleaned


def next_expected(config: dict, after: datetime) -> datetime:
    """When the ping after one at `after` is due (before grace)."""
    if config.get("period"):
        return after + timedelta(seconds=config["period"])
    zone = ZoneInfo(config.get("tz") or "UTC")
    # CronSim walks local wall-clock time, so 03:00 stays 03:00 across DST changes.
    local = after.astimezone(zone).replace(microsecond=0)
    return next(iter(CronSim(config["schedule"], local))).astimezone(after.tzinfo)


def deadline(probe, config: dict | None = None) -> datetime | None:
    """When this heartbeat becomes late, or None before its first ping (healthchecks' "new":
    a job that never ran is not yet missed)."""
    config = config if config is not None else probe.config
    if probe.last_ping_at is None and probe.last_start_at is None:
        return None
    grace = timedelta(seconds=config.get("grace") or 0)
    candidates = []
    if probe.last_ping_at is not None:
        candidates.append(next_expected(config, probe.last_ping_at) + grace)
    if probe.last_start_at and (
        probe.last_ping_at is None or probe.last_start_at > probe.last_ping_at
    ):
        candidates.append(probe.last_start_at + grace)
    return min(candidates)


def describe(config: dict) -> str:
    grace = config.get("grace") or 0
    if config.get("period"):
        every = f"every {span(config['period'])}"
    else:
        every = f"on '{config.get('schedule')}' ({config.get('tz') or 'UTC'})"
    return f"{every} + {span(grace)} grace"


def span(seconds: float) -> str:
    """45 s, 12 min, 1 h, 1.5 h, 1 d, 2.5 d."""
    seconds = int(round(seconds))

    def short(value: float, unit: str) -> str:
        return f"{value:.1f}".removesuffix(".0") + f" {unit}"

    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200 and seconds % 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400 and seconds % 86400:
        return short(seconds / 3600, "h")
    return short(seconds / 86400, "d")


def evaluate(probe, now: datetime | None = None) -> CheckResult | None:
    """Late → critical; otherwise None (nothing to record: pings record themselves)."""
    now = now or timezone.now()
    due = deadline(probe)
    if due is None or now < due:
        return None
    started = probe.last_start_at
    if started and (probe.last_ping_at is None or started > probe.last_ping_at):
        summary = (
            f"Run started {span((now - started).total_seconds())} ago and has not finished "
            f"(grace {span(probe.config.get('grace') or 0)})"
        )
    else:
        summary = (
            f"No ping for {span((now - probe.last_ping_at).total_seconds())} "
            f"(expected {describe(probe.config)})"
        )
    return CheckResult(
        "critical",
        summary,
        details={
            "late_since": due.isoformat(),
            "last_ping_at": probe.last_ping_at.isoformat() if probe.last_ping_at else None,
            "last_start_at": started.isoformat() if started else None,
        },
    )


def run(config: dict, timeout: float, previous: dict | None = None) -> CheckResult:
    raise TypeError("A heartbeat is judged from its pings: use probes.pings.check_now.")
