"""The incident page's status-update panel (compose, publish) and the comms templates pages."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from console.formtoken import one_time_form
from incidents.actions import ActionError
from incidents.models import Incident, Service
from incidents.permissions import get_incident_for_user, require_perm
from incidents.statuspage import actions
from incidents.statuspage.forms import CommsTemplateForm, StatusUpdateForm
from incidents.statuspage.models import CommsTemplate, StatusUpdate, UpdateCadence
from incidents.statuspage.render import fill, incident_fields

PANEL_UPDATES = 5


# -- the panel on the incident page ----------------------------------------------------------
def comms_panel(incident: Incident, now) -> dict:
    """What the live part of the panel shows: due time, overdue, the latest updates.
    Two queries."""
    cadence = UpdateCadence.objects.filter(incident=incident).first()
    updates = list(
        StatusUpdate.objects.filter(incident=incident)
        .select_related("published_by")
        .order_by("-published_at", "-id")[:PANEL_UPDATES]
    )
    due_at = cadence.due_at if cadence and incident.is_open else None
    return {
        "due_at": due_at,
        "overdue": due_at is not None and due_at <= now,
        "updates": updates,
        "latest": updates[0] if updates else None,
    }


def editor_context(request: HttpRequest, context: dict, form: StatusUpdateForm | None = None):
    """Add the editor to a full incident page's context (three queries when the user may
    publish: public services, templates, and nothing else — roles come from the context)."""
    incident = context["incident"]
    communicator = dict(context["roles"]).get("communicator")
    may = actions.may_publish(
        request.user, incident, communicator_id=communicator.user_id if communicator else 0
    )
    context["su_may_publish"] = may
    if not may:
        return context
    public_services = list(Service.objects.filter(public=True).order_by("position", "name"))
    context["su_templates"] = list(CommsTemplate.objects.all())
    context["su_form"] = form or blank_form(context, public_services)
    context["su_public_services"] = public_services
    latest = context["comms"]["latest"]
    context["su_after"] = latest.pk if latest else 0
    return context


def blank_form(context: dict, public_services, body: str = "", template=None):
    incident = context["incident"]
    latest = context["comms"]["latest"]
    incident_services = {s.pk for s in context["services"]}
    return StatusUpdateForm(
        components=public_services,
        initial={
            "title": latest.title if latest else incident.title,
            "status": incident.status,
            "components": [s.pk for s in public_services if s.pk in incident_services],
            "body": body,
            "template": template.pk if template else None,
        },
    )


def _require_publisher(request: HttpRequest, incident: Incident) -> None:
    if not actions.may_publish(request.user, incident):
        raise PermissionDenied(
            "Only the incident's communicator or a lead can publish status updates."
        )


def _full_page(request: HttpRequest, incident: Incident, form=None, status: int = 200):
    from incidents.views.live import live_context

    context = live_context(request, incident, since=None)
    editor_context(request, context, form=form)
    context["su_open"] = form is not None
    return render(request, "incidents/detail.html", context, status=status)


@login_required
@require_GET
def compose(request: HttpRequest, pk: int) -> HttpResponse:
    """The editor filled from a template (or blank), for the communicator to edit."""
    incident = get_incident_for_user(request, pk)
    _require_publisher(request, incident)
    template = None
    if request.GET.get("template"):
        try:
            template = CommsTemplate.objects.get(pk=int(request.GET["template"]))
        except (ValueError, CommsTemplate.DoesNotExist):
            return HttpResponse(
                "No such template.", status=400, content_type="text/plain; charset=utf-8"
            )
    panel = comms_panel(incident, timezone.now())
    services = list(incident.services.all())
    public_services = list(Service.objects.filter(public=True).order_by("position", "name"))
    body, left = "", []
    if template is not None:
        fields = incident_fields(incident, services=services, next_update_at=panel["due_at"])
        body, left = fill(template.body, fields)
    context = {"incident": incident, "comms": panel, "services": services}
    form = blank_form(context, public_services, body=body, template=template)
    if request.htmx:
        return render(
            request,
            "incidents/status_updates.html#su-editor",
            {
                "incident": incident,
                "su_form": form,
                "su_templates": list(CommsTemplate.objects.all()),
                "su_template": template,
                "su_left": left,
                "su_open": True,
                "su_after": panel["latest"].pk if panel["latest"] else 0,
            },
        )
    return _full_page(request, incident, form=form)


@login_required
@require_POST
@one_time_form
def publish(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_incident_for_user(request, pk)
    _require_publisher(request, incident)
    public_services = list(Service.objects.filter(public=True).order_by("position", "name"))
    form = StatusUpdateForm(request.POST, components=public_services)
    error = None
    if form.is_valid():
        try:
            update = actions.publish_update(
                incident,
                title=form.cleaned_data["title"],
                status=form.cleaned_data["status"],
                body=form.cleaned_data["body"],
                components=form.cleaned_data["components"],
                template=form.cleaned_data["template"],
                by=request.user,
            )
        except ActionError as exc:
            error = str(exc)
        else:
            if request.htmx:
                fresh = StatusUpdateForm(
                    components=public_services,
                    initial={
                        "title": form.cleaned_data["title"],
                        "status": form.cleaned_data["status"],
                        "components": [c.pk for c in form.cleaned_data["components"]],
                    },
                )
                response = render(
                    request,
                    "incidents/status_updates.html#su-editor",
                    {
                        "incident": incident,
                        "su_form": fresh,
                        "su_templates": list(CommsTemplate.objects.all()),
                        "su_published": True,
                        "su_after": update.pk,
                    },
                )
                response["HX-Trigger"] = "incident-changed"
                return response
            messages.success(request, "Status update published to the status page.")
            return redirect(f"{incident.get_absolute_url()}#status-updates")
    if error:
        form.add_error(None, error)
    # Whatever was typed comes back in the bound form.
    if request.htmx:
        return render(
            request,
            "incidents/status_updates.html#su-editor",
            {
                "incident": incident,
                "su_form": form,
                "su_templates": list(CommsTemplate.objects.all()),
                "su_open": True,
                "su_after": StatusUpdate.objects.filter(incident=incident)
                .order_by("-published_at", "-id")
                .values_list("pk", flat=True)
                .first(),
            },
            status=422,
        )
    return _full_page(request, incident, form=form, status=422)


# -- templates pages ---------------------------------------------------------------------------
@login_required
@require_GET
def template_list(request: HttpRequest) -> HttpResponse:
    require_perm(request, "incidents.view_commstemplate")
    templates = list(CommsTemplate.objects.select_related("proposal__version__runbook"))
    return render(
        request, "incidents/comms_templates.html", {"templates": templates, "nav": "comms"}
    )


@login_required
@require_http_methods(["GET", "POST"])
@one_time_form
def template_new(request: HttpRequest) -> HttpResponse:
    require_perm(request, "incidents.add_commstemplate")
    form = CommsTemplateForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            template = form.save(commit=False)
            template.created_by = request.user
            template.origin = CommsTemplate.Origin.MANUAL
            template.save()
            messages.success(request, f"Template “{template.name}” created.")
            return redirect("incidents:comms_templates")
        return render(
            request,
            "incidents/comms_template_form.html",
            {"form": form, "nav": "comms"},
            status=422,
        )
    return render(request, "incidents/comms_template_form.html", {"form": form, "nav": "comms"})


@login_required
@require_http_methods(["GET", "POST"])
def template_edit(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request, "incidents.change_commstemplate")
    template = get_object_or_404(CommsTemplate, pk=pk)
    form = CommsTemplateForm(request.POST or None, instance=template)
    if request.method == "POST":
        if form.is_valid():
            form.save()
            messages.success(request, f"Template “{template.name}” saved.")
            return redirect("incidents:comms_templates")
        context = {"form": form, "template": template, "nav": "comms"}
        return render(request, "incidents/comms_template_form.html", context, status=422)
    return render(
        request,
        "incidents/comms_template_form.html",
        {"form": form, "template": template, "nav": "comms"},
    )


@login_required
@require_POST
def template_delete(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request, "incidents.delete_commstemplate")
    template = get_object_or_404(CommsTemplate, pk=pk)
    name = template.name
    template.delete()
    messages.success(request, f"Template “{name}” deleted.")
    return redirect("incidents:comms_templates")
