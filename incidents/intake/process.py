"""Turning a stored delivery into alerts and incidents.

`process_event` runs once per delivery, under a row lock on it (a redelivered task finds it
processed and changes nothing). It routes the group, opens or joins the incident by the group's
dedup key (the partial unique constraint on open incidents' keys makes concurrent deliveries
join one incident), and upserts each alert by its key: new alerts and state changes go on the
incident's timeline; a repeated delivery only counts itself on the alerts it carries.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from incidents import actions
from incidents.intake.models import Alert, InboundEvent, Integration
from incidents.intake.payloads import AlertIn, Group, PayloadError, read
from incidents.intake.routing import Decision, decide
from incidents.models import Incident, Status, TimelineEvent

log = logging.getLogger(__name__)
Kind = TimelineEvent.Kind


def kick_key(integration_id: int) -> str:
    """The cache key saying a drain of this integration's deliveries is queued or running."""
    return f"intake-kick:{integration_id}"


@dataclass
class Outcome:
    state: str
    incident: Incident | None = None
    created: bool = False


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
            if integration.kind == Integration.Kind.STRIPE:
                from incidents.intake.stripe_events import handle_stripe

                outcome = handle_stripe(integration, event)
            else:
                group = read(integration.kind, event.body.encode(), integration.pk)
                outcome = handle(integration, group)
        except PayloadError as exc:  # validated at intake; a stored row from older code
            outcome = Outcome(InboundEvent.State.FAILED)
            event.error = str(exc)
        event.state = outcome.state
        event.incident = outcome.incident
        event.processed_at = timezone.now()
        event.save(update_fields=["state", "incident", "processed_at", "error"])
        return outcome


def handle(integration: Integration, group: Group) -> Outcome:
    decision = decide(integration, group)
    if decision.drop:
        return Outcome(InboundEvent.State.DROPPED)
    existing = {
        alert.key: alert
        for alert in Alert.objects.select_for_update(of=("self",))
        .select_related("incident")
        .filter(integration=integration, key__in=[a.key for a in group.alerts])
    }
    incident, created = None, False
    if any(a.status == Alert.Status.FIRING for a in group.alerts):
        incident, created = open_incident(group, decision)
    else:
        # Resolved-only delivery: it speaks of the alerts' incident, if still open.
        incident = next(
            (a.incident for a in existing.values() if a.incident and a.incident.is_open), None
        )
    touched: set[int] = set()
    for alert_in in group.alerts:
        alert = existing.get(alert_in.key)
        if alert is None:
            alert = create_alert(integration, alert_in, incident)
            if alert is None:  # a concurrent delivery created it first: update that one
                alert = Alert.objects.select_for_update().get(
                    integration=integration, key=alert_in.key
                )
                update_alert(alert, alert_in, incident)
        else:
            update_alert(alert, alert_in, incident)
        if alert.incident_id:
            touched.add(alert.incident_id)
    for incident_id in touched:
        note_if_all_resolved(Incident.objects.get(pk=incident_id), integration)
    return Outcome(InboundEvent.State.PROCESSED, incident, created)


def open_incident(group: Group, decision: Decision) -> tuple[Incident, bool]:
    return actions.open_or_join(
        dedup_key=group.dedup_key,
        title=group.title,
        severity=decision.severity,
        summary=group.summary,
        services=decision.services,
        scenario=decision.scenario,
    )


def _fields(alert_in: AlertIn) -> dict:
    return {
        "fingerprint": alert_in.fingerprint[:64],
        "name": alert_in.name[:200],
        "status": alert_in.status,
        "labels": alert_in.labels,
        "annotations": alert_in.annotations,
        "starts_at": alert_in.starts_at,
        "ends_at": alert_in.ends_at,
        "source_url": alert_in.source_url,
    }


def create_alert(
    integration: Integration, alert_in: AlertIn, incident: Incident | None
) -> Alert | None:
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                integration=integration, key=alert_in.key, incident=incident, **_fields(alert_in)
            )
    except IntegrityError:
        return None
    if incident is not None:
        record_alert(alert, incident)
    return alert


def update_alert(alert: Alert, alert_in: AlertIn, incident: Incident | None) -> None:
    was = alert.status
    for name, value in _fields(alert_in).items():
        setattr(alert, name, value)
    alert.last_seen = timezone.now()
    alert.deliveries += 1
    # A re-firing alert whose incident was resolved belongs to the incident open now.
    moves = alert.incident_id is None or not alert.incident.is_open
    if alert_in.status == Alert.Status.FIRING and incident is not None and moves:
        alert.incident = incident
        was = None  # new on this incident
    alert.save()
    if alert.incident_id and alert.status != was:
        record_alert(alert, alert.incident)


def record_alert(alert: Alert, incident: Incident) -> None:
    summary = alert.annotations.get("summary") or alert.annotations.get("description") or ""
    firing = alert.status == Alert.Status.FIRING
    actions.record(
        incident,
        Kind.ALERT_FIRING if firing else Kind.ALERT_RESOLVED,
        None,
        text=f"{alert.name} {'firing' if firing else 'resolved'}"
        + (f": {summary}" if summary else ""),
        data={
            "alert_id": alert.pk,
            "alert": alert.name,
            "summary": summary,
            "status": alert.status,
            "labels": alert.labels,
            "source_url": alert.source_url,
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
