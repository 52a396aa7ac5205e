"""Status updates follow the incident: cadence and public-page cache (see incidents.signals)."""

from __future__ import annotations

from django.db.models.signals import m2m_changed, post_save


def connect() -> None:
    from incidents.models import Incident, Service, TimelineEvent
    from incidents.signals import event_recorded
    from incidents.statuspage import (
        actions,
        public,
        tasks,  # noqa: F401 - registers the beat task
    )

    event_recorded.connect(
        actions.on_incident_event, sender=TimelineEvent, dispatch_uid="statuspage.cadence"
    )
    event_recorded.connect(
        public.on_incident_event, sender=TimelineEvent, dispatch_uid="statuspage.cache"
    )
    post_save.connect(public.on_service_saved, sender=Service, dispatch_uid="statuspage.svc")
    m2m_changed.connect(
        public.on_service_saved,
        sender=Incident.services.through,
        dispatch_uid="statuspage.incident_services",
    )
