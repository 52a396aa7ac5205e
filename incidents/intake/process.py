"""Outcomes: turning stored deliveries into alerts and incidents. The one module that does.

`process_event` runs once per delivery, under a row lock on it (a redelivered task finds it
processed and changes nothing). It reads the stored body with its format's reader
(`formats.read`), and for each group of alerts (same `group_key`): routes it, opens or joins
the incident, and upserts each alert by its key. New alerts and state changes go on the
incident's timeline; a repeated delivery only counts itself on the alerts it carries.

Which incident a firing group lands on, in order: the open incident of this integration that
already holds one of its fingerprints (so a changed grouping never opens a second incident
for the same alert), else the open incident with its group key, else a new one (the partial
unique constraint on open incidents' keys makes concurrent deliveries join one). A group under
a `Threshold` opens only once enough of its alerts arrived within the window.

`signature_failed` is the other outcome: a delivery refused for its signature, kept as a
security signal that opens a P0 once there are many.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from incidents import actions
from incidents.intake import formats
from incidents.intake.formats import Alert as AlertIn
from incidents.intake.formats import Refusal
from incidents.intake.models import Alert, InboundEvent, Integration, SignatureFailure
from incidents.intake.routing import current_scenario, decide
from incidents.models import Incident, Severity, Status, TimelineEvent

log = logging.getLogger(__name__)
Kind = TimelineEvent.Kind

SECURITY_TITLE = "Webhook Security Alert"
SIGNATURE_FAILURE_THRESHOLD = 5
SIGNATURE_FAILURE_WINDOW = timedelta(minutes=10)


def kick_key(integration_id: int) -> str:
    """The cache key saying a drain of this integration's deliveries is queued or running."""
    return f"intake-kick:{integration_id}"


@dataclass
class Outcome:
    state: str
    incident: Incident | None = None
    created: bool = False


# -- deliveries ----------------------------------------------------------------------------------
def process_event(event_id: int) -> Outcome:
    with transaction.atomic():
        event = (
            InboundEvent.objects.select_for_update(of=("self",))
            .select_related("integration")
            .filter(pk=event_id)
            .first()
        )
        if event is None:
            return Outcome("missing")
        if event.state != InboundEvent.State.PENDING:
            return Outcome(event.state, event.incident)
        integration = event.integration
        try:
            reading = formats.read(integration.kind, event.body.encode(), integration)
        except Refusal as exc:  # validated at intake; a row stored by older code
            outcome = Outcome(InboundEvent.State.FAILED)
            event.error = exc.reason
            transaction.on_commit(refresh_health)
        else:
            outcome = handle(integration, reading.alerts, event.received_at)
            event.error = ""  # an earlier attempt's
        event.next_attempt_at = None
        event.state = outcome.state
        event.incident = outcome.incident
        event.processed_at = timezone.now()
        event.save(update_fields=["state", "incident", "processed_at", "error", "next_attempt_at"])
        return outcome


# A delivery whose processing raises is tried again after these delays, then kept as failed
# (shown on the Integrations page, with "Process again").
RETRY_DELAYS = (timedelta(seconds=5), timedelta(seconds=30))
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1


def due(pending: QuerySet) -> QuerySet:
    now = timezone.now()
    return pending.filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))


BATCH = 500


def drain(
    integration_id: int | None, older_than_seconds: float = 0, max_batches: int | None = None
) -> int:
    """Process pending deliveries (of one integration, or all), oldest first, in batches,
    until none is due. Returns how many were taken.

    A batch is locked (SKIP LOCKED: concurrent drains take different rows) and processed as
    one (process_batch: repeats of a group collapse). If the batch raises, its deliveries are
    processed one by one, and one that raises is retried later (RETRY_DELAYS), then kept as
    failed with its error.
    """
    done = batches = 0
    while max_batches is None or batches < max_batches:
        batches += 1
        pending = due(InboundEvent.objects.filter(state=InboundEvent.State.PENDING))
        if integration_id is not None:
            pending = pending.filter(integration_id=integration_id)
        if older_than_seconds:
            cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
            pending = pending.filter(received_at__lte=cutoff)
        try:
            with transaction.atomic():
                rows = list(
                    pending.select_for_update(skip_locked=True, of=("self",))
                    .select_related("integration")
                    .order_by("id")[:BATCH]
                )
                if not rows:
                    return done
                process_batch(rows)
        except Exception:  # noqa: BLE001 - retried one by one, each failure kept with its own
            log.exception("a batch of %d deliveries failed: one by one", len(rows))
            for row in rows:
                process_or_count_failure(row.pk)
        done += len(rows)
    return done


# Senders whose events are actions taken in order (trigger, acknowledge, resolve; create,
# close): collapsing a batch to each alert's newest state would drop a trigger that an
# acknowledge followed. Processed one by one, in the order received.
ORDERED_KINDS = {"pagerduty", "opsgenie"}


@dataclass
class Collapsed:
    """A group's alerts over a batch: each alert's newest state, and how often it came."""

    integration: Integration
    head: AlertIn
    alerts: dict[str, AlertIn]
    counts: dict[str, int]
    firing: bool
    at: datetime


def process_batch(rows: list[InboundEvent]) -> None:
    """Process locked pending deliveries as one: the alerts of each group collapse over the
    batch (the newest delivery's state of each alert wins, its deliveries counted exactly), so
    a storm of resends of a few groups is a few groups' work; the deliveries' outcomes are
    then written in bulk. Deliveries under a threshold are counted one by one (process_event).
    """
    groups: dict[tuple[int, str], Collapsed] = {}
    readings: list[tuple[InboundEvent, list[tuple[int, str]]]] = []
    refused: list[tuple[InboundEvent, str]] = []
    singles: list[InboundEvent] = []
    integrations: dict[int, Integration] = {}
    memo: dict = {}  # rules, services and scenarios, read once for the batch
    for row in rows:
        integration = integrations.setdefault(row.integration_id, row.integration)
        if integration.kind in ORDERED_KINDS:
            singles.append(row)
            continue
        try:
            reading = formats.read(integration.kind, row.body.encode(), integration)
        except Refusal as exc:
            refused.append((row, exc.reason))
            continue
        if any(a.threshold is not None for a in reading.alerts):
            singles.append(row)
            continue
        keys: list[tuple[int, str]] = []
        for alert_in in reading.alerts:
            key = (integration.pk, alert_in.group_key)
            if key not in keys:
                keys.append(key)
            group = groups.get(key)
            if group is None:
                group = groups[key] = Collapsed(
                    integration, alert_in, {}, {}, False, row.received_at
                )
            group.alerts.pop(alert_in.key, None)  # re-inserted: newest last
            group.alerts[alert_in.key] = alert_in
            group.counts[alert_in.key] = group.counts.get(alert_in.key, 0) + 1
            group.firing = group.firing or alert_in.status == Alert.Status.FIRING
            group.at = max(group.at, row.received_at)
        for key in keys:  # the newest delivery's first alert of the group speaks for it
            groups[key].head = next(a for a in reading.alerts if a.group_key == key[1])
        readings.append((row, keys))

    outcomes = {
        key: handle_group(
            group.integration,
            [group.head, *(a for k, a in group.alerts.items() if k != group.head.key)],
            group.at,
            counts=group.counts,
            firing=group.firing,
            memo=memo,
        )
        for key, group in groups.items()
    }
    now = timezone.now()
    by_outcome: dict[tuple[str, int | None], list[int]] = {}
    for row, keys in readings:
        found = [outcomes[key] for key in keys]
        if found and all(o.state == InboundEvent.State.DROPPED for o in found):
            state, incident = InboundEvent.State.DROPPED, None
        else:
            state = InboundEvent.State.PROCESSED
            incident = next((o.incident for o in found if o.incident), None)
        by_outcome.setdefault((state, incident.pk if incident else None), []).append(row.pk)
    for (state, incident_id), pks in by_outcome.items():
        InboundEvent.objects.filter(pk__in=pks).update(
            state=state, incident_id=incident_id, processed_at=now, error="", next_attempt_at=None
        )
    for row, reason in refused:
        InboundEvent.objects.filter(pk=row.pk).update(
            state=InboundEvent.State.FAILED, error=reason, processed_at=now, next_attempt_at=None
        )
    if refused:
        transaction.on_commit(refresh_health)
    for row in singles:
        process_event(row.pk)


def process_or_count_failure(event_id: int) -> Outcome:
    """process_event, with an exception counted as a failed attempt (see attempt_failed)."""
    try:
        return process_event(event_id)
    except Exception as exc:  # noqa: BLE001 - one bad delivery must not block the rest
        log.exception("delivery %s failed", event_id)
        attempt_failed(event_id, exc)
        return Outcome(InboundEvent.State.PENDING)


def attempt_failed(event_id: int, exc: BaseException) -> None:
    """Count a failed attempt: pending again after its delay, or failed after the last."""
    with transaction.atomic():
        event = (
            InboundEvent.objects.select_for_update()
            .filter(pk=event_id, state=InboundEvent.State.PENDING)
            .only("attempts")
            .first()
        )
        if event is None:
            return
        attempts = event.attempts + 1
        changes: dict = {"attempts": attempts, "error": f"{type(exc).__name__}: {exc}"[:2000]}
        if attempts >= MAX_ATTEMPTS:
            changes |= {"state": InboundEvent.State.FAILED, "processed_at": timezone.now()}
            transaction.on_commit(refresh_health)
        else:
            changes["next_attempt_at"] = timezone.now() + RETRY_DELAYS[attempts - 1]
        InboundEvent.objects.filter(pk=event_id).update(**changes)


def process_again(events: QuerySet) -> list[int]:
    """Failed deliveries back to pending, to be processed from scratch (after a fix): returns
    the integrations to kick."""
    with transaction.atomic():
        rows = list(
            events.filter(state=InboundEvent.State.FAILED)
            .select_for_update()
            .values_list("pk", "integration_id")
        )
        InboundEvent.objects.filter(pk__in=[pk for pk, _ in rows]).update(
            state=InboundEvent.State.PENDING,
            attempts=0,
            next_attempt_at=None,
            processed_at=None,
            error="",
        )
    refresh_health()
    return sorted({integration_id for _, integration_id in rows})


# -- health --------------------------------------------------------------------------------------
# Deliveries pending longer than this say processing is stuck (no worker, no beat).
STUCK_AFTER = timedelta(minutes=2)
HEALTH_KEY = "intake-health"
HEALTH_TTL = 120  # seconds: beat's sweep refreshes it every 10
MEMO_SECONDS = 5.0
_memo: list = [0.0, None]


@dataclass(frozen=True)
class Health:
    failed: int = 0
    stuck: int = 0

    @property
    def ok(self) -> bool:
        return not (self.failed or self.stuck)


def health() -> Health:
    """Failed deliveries, and deliveries stuck pending, as last counted (refresh_health): read
    from the cache and remembered a few seconds per process, so a page costs no query for it
    and a Redis outage costs at most one timeout per process every few seconds."""
    now = time.monotonic()
    if _memo[1] is None or _memo[0] < now:
        found = cache.get(HEALTH_KEY)
        _memo[:] = [now + MEMO_SECONDS, Health(*found) if found else Health()]
    return _memo[1]


_refreshed = [0.0]
REFRESH_SECONDS = 60.0


def refresh_health_now_and_then() -> None:
    """From the hook: at most once a minute per process, so deliveries stuck pending (no
    worker consuming) show even when beat's sweep, which needs a worker too, never runs."""
    if time.monotonic() - _refreshed[0] > REFRESH_SECONDS:
        refresh_health()


def refresh_health() -> Health:
    """Count them (one query on the partial index of pending and failed) and remember it."""
    stuck_before = timezone.now() - STUCK_AFTER
    counts = InboundEvent.objects.filter(
        state__in=[InboundEvent.State.FAILED, InboundEvent.State.PENDING]
    ).aggregate(
        failed=Count("pk", filter=Q(state=InboundEvent.State.FAILED)),
        stuck=Count("pk", filter=Q(state=InboundEvent.State.PENDING, received_at__lt=stuck_before)),
    )
    found = Health(counts["failed"], counts["stuck"])
    _refreshed[0] = time.monotonic()
    cache.set(HEALTH_KEY, (found.failed, found.stuck), HEALTH_TTL)
    _memo[:] = [time.monotonic() + MEMO_SECONDS, found]
    return found


def handle(integration: Integration, alerts: list[AlertIn], at: datetime) -> Outcome:
    """Each group of the delivery's alerts onto its incident. A delivery whose every group a
    rule drops is DROPPED; one with no alerts at all is processed and opens nothing."""
    groups: dict[str, list[AlertIn]] = {}
    for alert_in in alerts:
        groups.setdefault(alert_in.group_key, []).append(alert_in)
    outcomes = [handle_group(integration, group, at) for group in groups.values()]
    if outcomes and all(o.state == InboundEvent.State.DROPPED for o in outcomes):
        return Outcome(InboundEvent.State.DROPPED)
    incident = next((o.incident for o in outcomes if o.incident), None)
    created = any(o.created for o in outcomes)
    return Outcome(InboundEvent.State.PROCESSED, incident, created)


def handle_group(
    integration: Integration,
    group: list[AlertIn],
    at: datetime,
    *,
    counts: dict[str, int] | None = None,
    firing: bool | None = None,
    memo: dict | None = None,
) -> Outcome:
    """One group's alerts onto its incident. `counts`: how many deliveries carried each alert
    (a collapsed batch; else one each); `firing`: whether any of them fired (else: whether
    any of these alerts fires)."""
    head = group[0]
    if head.action == "acknowledge":
        return acknowledge_group(integration, group)
    # In a collapsed batch an alert that fired and then resolved still joins the incident
    # its firing opened (no incident without its alerts).
    joins = bool(counts) and bool(firing)
    counts = counts or {}
    if firing is None:
        firing = any(a.status == Alert.Status.FIRING for a in group)
    context = head.context() | {"status": "firing" if firing else "resolved"}
    decision = decide(integration, context, head.severity, head.service, memo)
    if decision.drop:
        return Outcome(InboundEvent.State.DROPPED)
    existing = {
        alert.key: alert
        for alert in Alert.objects.select_for_update(of=("self",))
        .select_related("incident")
        .filter(integration=integration, key__in=[a.key for a in group])
    }
    count = 0
    if head.threshold is not None:
        count = threshold_count(integration, group, existing, at)
    incident, created = None, False
    if firing:
        incident = next(
            (a.incident for a in existing.values() if a.incident and a.incident.is_open), None
        ) or holding_incident(integration, group)
        if incident is None and (head.threshold is None or count >= head.threshold.count):
            incident, created = actions.open_or_join(
                dedup_key=head.group_key,
                title=counted(head.title, head, count),
                severity=decision.severity,
                summary=counted(head.summary, head, count),
                services=decision.services,
                scenario=decision.scenario or current_scenario(head.scenario, memo),
            )
        elif incident is None:  # under its threshold: only join an incident already open
            incident = Incident.objects.open().filter(dedup_key=head.group_key).first()
    else:
        # Resolved-only delivery: it speaks of the alerts' incident, if still open.
        incident = next(
            (a.incident for a in existing.values() if a.incident and a.incident.is_open), None
        ) or holding_incident(integration, group)
    extra = {"count": count} if head.threshold is not None else {}
    touched: set[int] = set()
    for alert_in in group:
        alert = existing.get(alert_in.key)
        times = counts.get(alert_in.key, 1)
        if alert is None:
            alert = create_alert(integration, alert_in, incident, at, extra, times)
            if alert is None:  # a concurrent delivery created it first: update that one
                alert = Alert.objects.select_for_update().get(
                    integration=integration, key=alert_in.key
                )
                update_alert(alert, alert_in, incident, at, extra, times, joins)
        else:
            update_alert(alert, alert_in, incident, at, extra, times, joins)
        if alert.incident_id:
            touched.add(alert.incident_id)
    for incident_id in touched:
        note_if_all_resolved(Incident.objects.get(pk=incident_id), integration)
    return Outcome(InboundEvent.State.PROCESSED, incident, created)


def acknowledge_group(integration: Integration, group: list[AlertIn]) -> Outcome:
    """The sender acknowledged: the open incident holding these alerts is acknowledged by the
    console on the integration's behalf. Nothing is opened for an alert never triggered (as
    PagerDuty ignores an acknowledge for an unknown dedup_key)."""
    incident = holding_incident(integration, group) or (
        Incident.objects.open().filter(dedup_key=group[0].group_key).first()
    )
    if incident is None:
        return Outcome(InboundEvent.State.PROCESSED)
    if incident.acknowledged_at is None:
        # Acknowledged or resolved meanwhile: nothing left to do.
        with contextlib.suppress(actions.ActionError):
            actions.acknowledge(incident, by=actions.system_user(), via=integration.name)
    return Outcome(InboundEvent.State.PROCESSED, incident)


def holding_incident(integration: Integration, group: list[AlertIn]) -> Incident | None:
    """The open incident of this integration that holds one of the group's fingerprints."""
    fingerprints = [a.fingerprint for a in group if a.fingerprint]
    if not fingerprints:
        return None
    return (
        Incident.objects.open()
        .filter(alerts__integration=integration, alerts__fingerprint__in=fingerprints)
        .order_by("declared_at", "id")
        .first()
    )


def threshold_count(
    integration: Integration, group: list[AlertIn], existing: dict[str, Alert], at: datetime
) -> int:
    """The group's alerts within its threshold's window, these included. Serialised per
    integration, so of two processed at once the second counts the first (a new statement
    after the lock sees it under READ COMMITTED)."""
    Integration.objects.select_for_update().filter(pk=integration.pk).first()
    head = group[0]
    earlier = Alert.objects.filter(
        integration=integration,
        group_key=head.group_key,
        first_seen__gt=at - head.threshold.window,
    ).count()
    return earlier + sum(1 for a in group if a.key not in existing)


def counted(text: str, alert_in: AlertIn, count: int) -> str:
    """A threshold group's title and summary may say {count}."""
    return text.replace("{count}", str(count)) if alert_in.threshold is not None else text


# -- alerts --------------------------------------------------------------------------------------
def _fields(alert_in: AlertIn) -> dict:
    return {
        "group_key": alert_in.group_key,
        "fingerprint": alert_in.fingerprint,
        "name": alert_in.name,
        "status": alert_in.status,
        "labels": alert_in.labels,
        "annotations": alert_in.annotations,
        "details": alert_in.details,
        "starts_at": alert_in.starts_at,
        "ends_at": alert_in.ends_at,
        "source_url": alert_in.source_url,
    }


def create_alert(
    integration: Integration,
    alert_in: AlertIn,
    incident: Incident | None,
    at: datetime,
    extra: dict,
    times: int = 1,
) -> Alert | None:
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                integration=integration,
                key=alert_in.key,
                incident=incident,
                first_seen=at,
                last_seen=at,
                deliveries=times,
                **_fields(alert_in),
            )
    except IntegrityError:
        return None
    if incident is not None:
        record_alert(alert, alert_in, incident, extra)
    return alert


KEPT_WHEN_ABSENT = {"name", "labels", "annotations", "source_url", "fingerprint", "details"}


def update_alert(
    alert: Alert,
    alert_in: AlertIn,
    incident: Incident | None,
    at: datetime,
    extra: dict,
    times: int = 1,
    joins: bool = False,
) -> None:
    was = alert.status
    for name, value in _fields(alert_in).items():
        # An event that names the alert only by its key (PagerDuty's resolve, Opsgenie's
        # close) keeps what the trigger said about it.
        if name in KEPT_WHEN_ABSENT and not value:
            continue
        setattr(alert, name, value)
    alert.last_seen = max(alert.last_seen, at)
    alert.deliveries += times
    # A re-firing alert whose incident was resolved belongs to the incident open now.
    moves = alert.incident_id is None or not alert.incident.is_open
    if (joins or alert_in.status == Alert.Status.FIRING) and incident is not None and moves:
        alert.incident = incident
        was = None  # new on this incident
    alert.save()
    if alert.incident_id and alert.status != was:
        record_alert(alert, alert_in, alert.incident, extra)


def record_alert(alert: Alert, alert_in: AlertIn, incident: Incident, extra: dict) -> None:
    summary = alert.annotations.get("summary") or alert.annotations.get("description") or ""
    firing = alert.status == Alert.Status.FIRING
    text = (
        alert_in.note
        if firing and alert_in.note
        else (
            f"{alert.name} {'firing' if firing else 'resolved'}"
            + (f": {summary}" if summary else "")
        )
    )
    actions.record(
        incident,
        Kind.ALERT_FIRING if firing else Kind.ALERT_RESOLVED,
        None,
        text=text,
        data={
            "alert_id": alert.pk,
            "alert": alert.name,
            "summary": summary,
            "status": alert.status,
            "labels": alert.labels,
            "source_url": alert.source_url,
            **alert_in.data,
            **extra,
        },
    )


def note_if_all_resolved(incident: Incident, integration: Integration) -> None:
    """Once every alert of an open incident is resolved: one event, and the incident resolved
    too when the integration says so."""
    if not incident.is_open or incident.alerts.filter(status=Alert.Status.FIRING).exists():
        return
    last = (
        incident.events.filter(kind__in=[Kind.ALERTS_RESOLVED, Kind.ALERT_FIRING])
        .order_by("-id")
        .values_list("kind", flat=True)
        .first()
    )
    if last == Kind.ALERTS_RESOLVED:
        return
    count = incident.alerts.count()
    actions.record(
        incident,
        Kind.ALERTS_RESOLVED,
        None,
        text=f"all {count} alert{'s' if count != 1 else ''} resolved",
        data={"alerts": count, "auto_resolve": integration.auto_resolve},
    )
    if integration.auto_resolve:
        actions.change_status(
            incident,
            to=Status.RESOLVED,
            by=actions.system_user(),
            note=f"Resolved by {integration.name}: every alert resolved.",
        )


# -- signature failures --------------------------------------------------------------------------
def signature_failed(integration: Integration, reason: str, remote_addr: str) -> None:
    """Keep the fact that a delivery failed its signature check (and nothing it carried).

    Each failure's row is committed on its own before it counts, so the security signal
    outlives any failure of what follows, and of two concurrent failures the later count sees
    both; the dedup key then keeps them on one incident. Past the threshold, or while the
    alert is open, the failure goes on the alert's timeline.
    """
    failure = SignatureFailure.objects.create(
        integration=integration, reason=reason[:300], remote_addr=remote_addr[:64]
    )
    count = integration.signature_failures.filter(
        at__gt=failure.at - SIGNATURE_FAILURE_WINDOW
    ).count()
    minutes = round(SIGNATURE_FAILURE_WINDOW.total_seconds() / 60)
    dedup_key = f"stripe-signature:{integration.pk}"
    with transaction.atomic():
        if count >= SIGNATURE_FAILURE_THRESHOLD:
            service = integration.default_service
            incident, _ = actions.open_or_join(
                dedup_key=dedup_key,
                title=SECURITY_TITLE,
                severity=Severity.P0,
                summary=(
                    f"{count} deliveries to the Stripe integration {integration.name} failed "
                    f"signature verification within {minutes} minutes. Nothing they carried "
                    "was stored or processed. From this one on, each failure is on the "
                    "timeline as a security signal."
                ),
                services=[service] if service else [],
                scenario=current_scenario(SECURITY_TITLE),
            )
        else:
            incident = Incident.objects.open().filter(dedup_key=dedup_key).first()
        if incident is None:
            return
        actions.record(
            incident,
            Kind.SECURITY_SIGNAL,
            None,
            text=f"Stripe signature failure ({count} in {minutes} min): {failure.reason}",
            data={
                "integration": integration.name,
                "remote_addr": failure.remote_addr,
                "count": count,
                "reason": failure.reason,
                "failure_id": failure.pk,
            },
        )
