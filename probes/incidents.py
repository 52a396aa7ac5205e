"""What a probe does to incidents: open one after N consecutive failures (or join the one it
already opened), and note its recovery on that incident's timeline."""

from __future__ import annotations

from incidents import actions
from incidents.models import TimelineEvent
from probes.models import Probe, ProbeResult

Kind = TimelineEvent.Kind


def figures(result: ProbeResult) -> dict:
    return {
        "probe_id": result.probe_id,
        "result_id": result.pk,
        "status": result.status,
        "latency_ms": result.latency_ms,
        "summary": result.summary,
    }


def on_failure_streak(probe: Probe, result: ProbeResult) -> None:
    """Called inside record_result's transaction for each failure at or past the threshold;
    acts once per streak, when the streak reaches the threshold."""
    if probe.consecutive_failures != probe.failures_to_open:
        return
    incident = probe.open_incident
    if incident is not None and incident.is_open:
        actions.record(
            incident,
            Kind.PROBE_FAILED,
            None,
            text=f"{probe.name} failing again: {result.summary}",
            data=figures(result),
        )
        return
    incident, _ = actions.open_or_join(
        dedup_key=f"probe:{probe.pk}",
        title=f"{probe.name}: {result.summary}"[:200],
        severity=probe.incident_severity,
        summary=f"Opened by the probe {probe.name} after {probe.consecutive_failures} "
        f"consecutive failures.",
        services=[probe.service] if probe.service_id else [],
        scenario=probe.scenario,
    )
    actions.record(
        incident,
        Kind.PROBE_FAILED,
        None,
        text=f"{probe.name} failed {probe.consecutive_failures} times in a row: {result.summary}",
        data=figures(result),
    )
    probe.open_incident = incident
    probe.save(update_fields=["open_incident"])


def on_recovery(probe: Probe, result: ProbeResult) -> None:
    incident = probe.open_incident
    if incident is None or not incident.is_open:
        return
    actions.record(
        incident,
        Kind.PROBE_RECOVERED,
        None,
        text=f"{probe.name} recovered: {result.summary}",
        data=figures(result),
    )
