"""The status page's components in the console: every service, whether the public page shows
it, its public name and description, and the order. Everyone on the team reads it; leads
(incidents.change_service) change it."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from console.switches import posted_switch, refuse
from incidents.models import Service
from incidents.permissions import require_perm
from incidents.statuspage import components as comps
from incidents.statuspage.components import ComponentForm


def get_service_for_user(request: HttpRequest, pk: int) -> Service:
    require_perm(request, "incidents.view_service")
    require_perm(request, "incidents.change_service")
    return get_object_or_404(Service, pk=pk)


def components_page(
    request: HttpRequest, invalid: ComponentForm | None = None, status: int = 200
) -> HttpResponse:
    """One query for the services, whatever their number."""
    services = list(Service.objects.order_by("-public", "position", "name"))
    shown = [s for s in services if s.public]
    hidden = sorted((s for s in services if not s.public), key=lambda s: s.name.lower())
    editable = request.user.has_perm("incidents.change_service")
    for service in services:
        if invalid is not None and invalid.instance.pk == service.pk:
            service.form = invalid
        elif editable:
            service.form = ComponentForm(instance=service)
    context = {"shown": shown, "hidden": hidden, "editable": editable, "nav": "comms"}
    return render(request, "incidents/components.html", context, status=status)


def back_to(service: Service) -> HttpResponse:
    return redirect(f"{reverse('incidents:components')}#service-{service.pk}")


@require_safe
@login_required
def component_list(request: HttpRequest) -> HttpResponse:
    require_perm(request, "incidents.view_service")
    return components_page(request)


@require_POST
@login_required
def component_edit(request: HttpRequest, pk: int) -> HttpResponse:
    service = get_service_for_user(request, pk)
    form = ComponentForm(request.POST, instance=service)
    if not form.is_valid():
        return components_page(request, invalid=form, status=422)
    form.save()
    messages.success(request, f"Saved: {service.name} is shown as “{service.display_name}”.")
    return back_to(service)


@require_POST
@login_required
def component_public(request: HttpRequest, pk: int) -> HttpResponse:
    service = get_service_for_user(request, pk)
    shown = posted_switch(request, "public")
    if shown is None:
        return refuse("Say public=1 to show the service on the status page or public=0 to hide it.")
    if shown:
        # Its name must not be one a component already shows: same check as renaming.
        current = {
            "public_name": service.public_name,
            "public_description": service.public_description,
        }
        form = ComponentForm(current, instance=service)
        if not form.is_valid():
            return components_page(request, invalid=form, status=422)
    service = comps.set_public(service, shown)
    if shown:
        messages.success(
            request, f"“{service.display_name}” is on the status page, last: move it up."
        )
    else:
        messages.success(request, f"{service.name} is no longer on the status page.")
    return back_to(service)


@require_POST
@login_required
def component_move(request: HttpRequest, pk: int) -> HttpResponse:
    service = get_service_for_user(request, pk)
    direction = request.POST.get("direction")
    if direction not in ("up", "down"):
        return refuse("Say direction=up or direction=down.")
    if not service.public:
        return refuse(f"{service.name} is not on the status page: show it first.")
    if not comps.move(service, up=direction == "up"):
        messages.warning(
            request,
            f"“{service.display_name}” is already {'first' if direction == 'up' else 'last'}.",
        )
    return back_to(service)
