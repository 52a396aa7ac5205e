"""Outgoing webhooks for leads: subscribe a URL (its signing secret is shown once), see
each delivery with its response, pause, rotate the secret, send a failed delivery again."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from incidents.permissions import require_perm
from incidents.webhooks.forms import WebhookEndpointForm
from incidents.webhooks.models import WebhookDelivery, WebhookEndpoint, new_secret
from incidents.webhooks.tasks import kick

State = WebhookDelivery.State
RECENT_DELIVERIES = 50


@login_required
def webhook_list(request: HttpRequest) -> HttpResponse:
    require_perm(request, "incidents.view_webhookendpoint")
    form = WebhookEndpointForm(request.POST or None)
    status = 200
    if request.method == "POST":
        require_perm(request, "incidents.add_webhookendpoint")
        if form.is_valid():
            endpoint = form.save(commit=False)
            endpoint.created_by = request.user
            endpoint.save()
            return _secret_page(request, endpoint, rotated=False)
        status = 422
    endpoints = WebhookEndpoint.objects.annotate(
        sent=Count("deliveries", filter=Q(deliveries__state=State.SENT)),
        failed=Count("deliveries", filter=Q(deliveries__state=State.FAILED)),
        waiting=Count("deliveries", filter=Q(deliveries__state__in=[State.PENDING, State.SENDING])),
    )
    return render(
        request,
        "incidents/webhooks.html",
        {"endpoints": endpoints, "form": form, "nav": "integrations"},
        status=status,
    )


def _secret_page(request: HttpRequest, endpoint: WebhookEndpoint, rotated: bool) -> HttpResponse:
    response = render(
        request,
        "incidents/webhook_secret.html",
        {"endpoint": endpoint, "rotated": rotated, "nav": "integrations"},
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_GET
def webhook_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request, "incidents.view_webhookendpoint")
    endpoint = get_object_or_404(WebhookEndpoint, pk=pk)
    deliveries = list(endpoint.deliveries.order_by("-id")[:RECENT_DELIVERIES])
    return render(
        request,
        "incidents/webhook_detail.html",
        {"endpoint": endpoint, "deliveries": deliveries, "nav": "integrations"},
    )


@login_required
@require_POST
def webhook_enabled(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request, "incidents.change_webhookendpoint")
    endpoint = get_object_or_404(WebhookEndpoint, pk=pk)
    endpoint.enabled = request.POST.get("enabled") == "1"
    endpoint.save(update_fields=["enabled"])
    if endpoint.enabled:
        kick(endpoint.pk)  # what waited while paused goes out now, in order
    messages.success(request, f"Webhook {'resumed' if endpoint.enabled else 'paused'}.")
    return redirect("incidents:webhook_detail", pk=endpoint.pk)


@login_required
@require_POST
def webhook_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request, "incidents.change_webhookendpoint")
    endpoint = get_object_or_404(WebhookEndpoint, pk=pk)
    endpoint.secret = new_secret()
    endpoint.save(update_fields=["secret"])
    return _secret_page(request, endpoint, rotated=True)


@login_required
@require_POST
def webhook_redeliver(request: HttpRequest, pk: int, delivery_id: int) -> HttpResponse:
    """A failed delivery goes back to the queue (after anything still waiting before it)."""
    require_perm(request, "incidents.change_webhookendpoint")
    endpoint = get_object_or_404(WebhookEndpoint, pk=pk)
    changed = WebhookDelivery.objects.filter(
        pk=delivery_id, endpoint=endpoint, state=State.FAILED
    ).update(state=State.PENDING, attempts=0, next_attempt_at=timezone.now(), finished_at=None)
    if changed:
        kick(endpoint.pk)
        messages.success(request, "Delivery queued again.")
    else:
        messages.error(request, "Only a failed delivery can be sent again.")
    return redirect("incidents:webhook_detail", pk=endpoint.pk)
