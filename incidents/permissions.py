"""Groups, their permissions, and the access helpers every incident view calls first."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from incidents.models import Incident, Status

RESPONDER, LEAD, MANAGER = "Responder", "Lead", "Manager"

# Each group holds its own permissions plus those of the groups before it.
GROUP_PERMISSIONS: dict[str, list[str]] = {
    RESPONDER: [
        "incidents.view_incident",
        "incidents.declare_incident",
        "incidents.view_service",
        "runbooks.view_runbook",
        "probes.view_probe",
        # Anyone on call can run a check.
        "probes.run_probe",
        # Comms templates: anyone may read them; the incident's communicator publishes.
        "incidents.view_commstemplate",
        # Post-incident reviews: the team writes them and tracks their action items.
        "incidents.view_postincidentreview",
        "incidents.change_postincidentreview",
        # Escalation: everyone sees the ladders and who is on call.
        "incidents.view_escalationpolicy",
        "incidents.view_oncallrotation",
    ],
    LEAD: [
        "runbooks.import_runbook",
        "incidents.assign_roles",
        "incidents.change_severity",
        "incidents.resolve_incident",
        "incidents.acknowledge_for_others",
        "probes.add_probe",
        "probes.change_probe",
        # Alert intake: integrations (creating one and rotating its token show the secret
        # URL once) and the routing rules that decide severity, service and runbook.
        "incidents.view_integration",
        "incidents.add_integration",
        "incidents.change_integration",
        "incidents.view_routingrule",
        "incidents.add_routingrule",
        "incidents.change_routingrule",
        "incidents.delete_routingrule",
        # Stakeholder updates for any incident (not only as its communicator), and the
        # templates they start from.
        "incidents.publish_status_update",
        "incidents.add_commstemplate",
        "incidents.change_commstemplate",
        "incidents.delete_commstemplate",
        # Status page components: which services the public page shows, named how, in
        # what order (everyone reads the list through view_service).
        "incidents.change_service",
        "incidents.publish_review",
        # Escalation: edit the ladders and rotations, page the next level now.
        "incidents.change_escalationpolicy",
        "incidents.add_oncallrotation",
        "incidents.change_oncallrotation",
        "incidents.escalate_incident",
        # Outgoing event webhooks: subscribe URLs, see their deliveries.
        "incidents.view_webhookendpoint",
        "incidents.add_webhookendpoint",
        "incidents.change_webhookendpoint",
    ],
    MANAGER: [
        "incidents.view_metrics",
        "incidents.export_reviews",
    ],
}


def cumulative_permissions() -> dict[str, list[str]]:
    granted: list[str] = []
    result = {}
    for group, perms in GROUP_PERMISSIONS.items():
        granted = granted + perms
        result[group] = granted
    return result


def sync_role_groups(sender=None, using: str = "default", **kwargs) -> None:
    """Create the Responder, Lead and Manager groups and grant exactly their permissions."""
    wanted = cumulative_permissions()
    all_names = {name for names in wanted.values() for name in names}
    by_name = {
        f"{p.content_type.app_label}.{p.codename}": p
        for p in Permission.objects.using(using).select_related("content_type")
        if f"{p.content_type.app_label}.{p.codename}" in all_names
    }
    for group_name, names in wanted.items():
        group, _ = Group.objects.using(using).get_or_create(name=group_name)
        group.permissions.add(*(by_name[name] for name in names if name in by_name))


def get_incident_for_user(request: HttpRequest, pk: int, perm: str | None = None) -> Incident:
    """The incident, or 404 if it doesn't exist, or 403 if the user may not see it or do perm."""
    require_perm(request, "incidents.view_incident")
    if perm:
        require_perm(request, perm)
    return get_object_or_404(
        Incident.objects.select_related("declared_by", "acknowledged_by"), pk=pk
    )


def require_perm(request: HttpRequest, perm: str) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied(f"Your role does not allow this ({perm.split('.')[-1]}).")


def require_status_change(request: HttpRequest, incident: Incident, to: str) -> None:
    """Moving along the status line needs declare_incident; resolving or reopening needs
    resolve_incident too. The pages and the API ask this one function."""
    require_perm(request, "incidents.declare_incident")
    if Status.RESOLVED in (to, incident.status):
        require_perm(request, "incidents.resolve_incident")


def require_acknowledge_as(request: HttpRequest, on_behalf_of) -> None:
    """Acknowledging for somebody else needs acknowledge_for_others."""
    if on_behalf_of is not None and on_behalf_of != request.user:
        require_perm(request, "incidents.acknowledge_for_others")
