"""Alert intake for leads: the integrations that may post alerts; and the alerts panel of the
incident page.

An integration's token is its password and sits in its hook URL. Only its SHA-256 is stored,
so the URL is shown once, in the response that creates or rotates it (never cached, never put
in a redirect or the session); the list shows its first characters. The list is one query
however many integrations there are: the last delivery and the last day's deliveries by state
are correlated subqueries on the (integration, received_at) index.

Routing rules have their own module, incidents/views/rules.py.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from console.formtoken import one_time_form
from console.switches import posted_switch, refuse
from incidents.intake.formats import FORMATS
from incidents.intake.models import (
    Alert,
    InboundEvent,
    Integration,
    SignatureFailure,
    kind_choices,
)
from incidents.intake.process import MAX_ATTEMPTS, drain, process_again
from incidents.intake.views import kick
from incidents.models import Incident, Service
from incidents.permissions import require_perm

RECENT = timedelta(hours=24)
RECENT_DELIVERIES_SHOWN = 20
FAILED_SHOWN = 50
# An environment variable's name as shells accept it; a pasted secret (whsec_…) is not one.
ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
# Shown beside the alert's name; every label is in the alert's <details>.
KEY_LABELS = ("instance", "job", "service", "severity")
# The list's narrow column: the kind without its long label.
KIND_SHORT = {kind: getattr(module, "SHORT", module.LABEL) for kind, module in FORMATS.items()}
KIND_HELP = {kind: getattr(module, "HELP", "") for kind, module in FORMATS.items()}


# -- access ----------------------------------------------------------------------------------
def get_integration_for_user(request: HttpRequest, pk: int, perm: str | None = None) -> Integration:
    """The integration, or 404 if it doesn't exist, or 403 if the user may not see it or do
    perm."""
    require_perm(request, "incidents.view_integration")
    if perm:
        require_perm(request, perm)
    return get_object_or_404(Integration.objects.select_related("default_service"), pk=pk)


# -- integrations: reading -------------------------------------------------------------------
def masked_hook_path(integration: Integration) -> str:
    """/hooks/<kind>/<first characters>…/: enough to tell URLs apart, useless to a sender."""
    if integration.secret_outside_url:  # PagerDuty, Opsgenie: the API path and the key's start
        return f"{integration.hook_path('')} · key {integration.token_hint}…"
    return reverse("hook", args=[integration.kind, integration.token_hint])[:-1] + "…/"


def _count(events: QuerySet) -> Coalesce:
    per_integration = events.order_by().values("integration").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(per_integration, output_field=IntegerField()), 0)


def integrations_with_traffic() -> list[Integration]:
    """Every integration with its last delivery and the last day's deliveries by state (and,
    for Stripe, signature failures): one query."""
    since = timezone.now() - RECENT
    recent = InboundEvent.objects.filter(integration=OuterRef("pk"), received_at__gte=since)
    last = InboundEvent.objects.filter(integration=OuterRef("pk")).order_by("-received_at")
    failures = SignatureFailure.objects.filter(integration=OuterRef("pk"), at__gte=since)
    integrations = list(
        Integration.objects.select_related("default_service")
        .annotate(
            last_delivery_at=Subquery(last.values("received_at")[:1]),
            bad_signatures=_count(failures),
            **{f"n_{state}": _count(recent.filter(state=state)) for state in InboundEvent.State},
        )
        .order_by("name")
    )
    for integration in integrations:
        integration.hook_hint = masked_hook_path(integration)
        integration.kind_short = KIND_SHORT.get(integration.kind, integration.kind)
        integration.by_state = [
            (state, getattr(integration, f"n_{state}"))
            for state in InboundEvent.State
            if getattr(integration, f"n_{state}")
        ]
        integration.deliveries_24h = sum(n for _, n in integration.by_state)
        integration.secret_missing = bool(
            integration.kind == Integration.Kind.STRIPE
            and not os.environ.get(integration.signing_secret_env or "-")
        )
    return integrations


@require_safe
@login_required
def integration_list(request: HttpRequest) -> HttpResponse:
    require_perm(request, "incidents.view_integration")
    failed = InboundEvent.objects.filter(state=InboundEvent.State.FAILED)
    shown = list(
        failed.select_related("integration").defer("body").order_by("-id")[: FAILED_SHOWN + 1]
    )
    context = {
        "integrations": integrations_with_traffic(),
        "failed_deliveries": shown[:FAILED_SHOWN],
        "failed_total": len(shown) if len(shown) <= FAILED_SHOWN else failed.count(),
        "max_attempts": MAX_ATTEMPTS,
        "nav": "integrations",
    }
    return render(request, "incidents/integrations.html", context)


@require_POST
@login_required
def deliveries_again(request: HttpRequest) -> HttpResponse:
    """Process failed deliveries again (after a fix): one (`delivery=<id>`) or all of them
    (`all=1`). Each goes back to pending and is read from its stored body from scratch."""
    require_perm(request, "incidents.view_integration")
    require_perm(request, "incidents.change_integration")
    failed = InboundEvent.objects.filter(state=InboundEvent.State.FAILED)
    if request.POST.get("all") == "1":
        chosen = failed
    elif (request.POST.get("delivery") or "").isdigit():
        chosen = failed.filter(pk=int(request.POST["delivery"]))
    else:
        return refuse("Say delivery=<id> or all=1.")
    count = chosen.count()
    if not count:
        messages.info(request, "No failed delivery to process again: it was already taken.")
        return redirect("incidents:integrations")
    for integration_id in process_again(chosen):
        if not kick(integration_id, delivery=False):  # no broker: here, now
            drain(integration_id)
    messages.success(
        request,
        f"{count} deliver{'y' if count == 1 else 'ies'} queued to be processed again.",
    )
    return redirect("incidents:integrations")


# -- integrations: forms ---------------------------------------------------------------------
class IntegrationForm(forms.ModelForm):
    kind = forms.ChoiceField(
        choices=kind_choices,
        widget=forms.RadioSelect,
        initial=Integration.Kind.ALERTMANAGER,
    )
    default_service = forms.ModelChoiceField(
        Service.objects.all(), required=False, empty_label="None: only what the alert names"
    )
    rate_limit_per_minute = forms.IntegerField(min_value=1, max_value=100_000, initial=600)

    class Meta:
        model = Integration
        fields = [
            "name",
            "kind",
            "default_service",
            "default_severity",
            "auto_resolve",
            "rate_limit_per_minute",
            "signing_secret_env",
        ]
        widgets = {
            "name": forms.TextInput(
                attrs={"placeholder": "e.g. Prometheus production", "autocomplete": "off"}
            ),
            "signing_secret_env": forms.TextInput(
                attrs={"placeholder": "STRIPE_WEBHOOK_SECRET", "spellcheck": "false"}
            ),
        }
        error_messages = {
            "name": {"unique": "Another integration already has this name; pick another."}
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # The kind is part of the hook URL and decides how deliveries are read.
            self.fields["kind"].disabled = True

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise ValidationError("Name the integration after what sends to it.")
        return name

    def clean_signing_secret_env(self) -> str:
        name = self.cleaned_data["signing_secret_env"].strip()
        if name.startswith(("whsec_", "sk_", "rk_")):
            raise ValidationError(
                "This looks like the secret itself. Put it in an environment variable on the "
                "console's server and give that variable's name here, like "
                "STRIPE_WEBHOOK_SECRET."
            )
        if name and not ENV_NAME.fullmatch(name):
            raise ValidationError(
                "Give the name of an environment variable: capital letters, digits and "
                "underscores, like STRIPE_WEBHOOK_SECRET."
            )
        return name

    def clean(self) -> dict:
        cleaned = super().clean()
        kind, env = cleaned.get("kind"), cleaned.get("signing_secret_env")
        if kind == Integration.Kind.STRIPE and not env and "signing_secret_env" not in self.errors:
            self.add_error(
                "signing_secret_env",
                "Stripe deliveries are verified with the endpoint's signing secret: name the "
                "environment variable that holds it.",
            )
        if kind and kind != Integration.Kind.STRIPE and env:
            self.add_error(
                "signing_secret_env",
                "Only Stripe integrations use a signing secret; leave it empty.",
            )
        return cleaned

    def kind_options(self) -> list[dict]:
        chosen = str(self["kind"].value() or "")
        return [
            {"value": value, "label": label, "help": KIND_HELP[value], "checked": value == chosen}
            for value, label in kind_choices()
        ]


def form_page(request: HttpRequest, form: IntegrationForm, **context) -> HttpResponse:
    context = {"form": form, "nav": "integrations", **context}
    status = 422 if form.errors else 200
    return render(request, "incidents/integration_form.html", context, status=status)


def token_page(
    request: HttpRequest, integration: Integration, token: str, rotated: bool
) -> HttpResponse:
    """The only page that shows the token: never stored by the browser or a proxy."""
    hook_url = request.build_absolute_uri(integration.hook_path(token))
    context = {
        "integration": integration,
        "hook_url": hook_url,
        # PagerDuty's routing key and Opsgenie's API key travel outside the URL.
        "secret": token if integration.secret_outside_url else "",
        "base_url": request.build_absolute_uri("/"),
        "rotated": rotated,
        "secret_missing": integration.kind == Integration.Kind.STRIPE
        and not os.environ.get(integration.signing_secret_env),
        "nav": "integrations",
    }
    response = render(request, "incidents/integration_token.html", context)
    patch_cache_control(response, no_store=True, private=True)
    return response


@require_http_methods(["GET", "POST"])
@login_required
@one_time_form
def integration_new(request: HttpRequest) -> HttpResponse:
    require_perm(request, "incidents.add_integration")
    form = IntegrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        integration = form.save(commit=False)
        integration.created_by = request.user
        token = integration.new_token()
        integration.save()
        return token_page(request, integration, token, rotated=False)
    return form_page(request, form)


@require_http_methods(["GET", "POST"])
@login_required
def integration_edit(request: HttpRequest, pk: int) -> HttpResponse:
    integration = get_integration_for_user(request, pk, "incidents.change_integration")
    form = IntegrationForm(request.POST or None, instance=integration)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"{integration.name} saved.")
        return redirect("incidents:integrations")
    deliveries = (
        InboundEvent.objects.filter(integration=integration)
        .select_related("incident")
        .defer("body")[:RECENT_DELIVERIES_SHOWN]
    )
    return form_page(
        request,
        form,
        integration=integration,
        hook_hint=masked_hook_path(integration),
        deliveries=list(deliveries),
    )


@require_http_methods(["GET", "POST"])
@login_required
def integration_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation; POST sets a new token: the old URL stops working (the hook's
    per-process lookup forgets it on save, other processes within seconds)."""
    integration = get_integration_for_user(request, pk, "incidents.change_integration")
    if request.method == "GET":
        context = {
            "integration": integration,
            "hook_hint": masked_hook_path(integration),
            "nav": "integrations",
        }
        return render(request, "incidents/integration_rotate.html", context)
    token = integration.new_token()
    integration.rotated_at = timezone.now()
    integration.save(update_fields=["token_hash", "token_hint", "rotated_at"])
    return token_page(request, integration, token, rotated=True)


@require_POST
@login_required
def integration_enabled(request: HttpRequest, pk: int) -> HttpResponse:
    integration = get_integration_for_user(request, pk, "incidents.change_integration")
    enabled = posted_switch(request)
    if enabled is None:
        return refuse("Say enabled=1 to accept deliveries or enabled=0 to refuse them.")
    integration.enabled = enabled
    # A save, not an update: the hook's token lookup forgets on the post_save signal.
    integration.save(update_fields=["enabled"])
    messages.success(
        request,
        f"{integration.name} accepts deliveries again."
        if enabled
        else f"{integration.name} is disabled: its URL answers 404 until it is enabled.",
    )
    return redirect("incidents:integrations")


# -- the incident page's alerts panel --------------------------------------------------------
def web_url(value: object) -> str:
    """The URL when it is http(s), else "": a javascript: or data: URL from a sender never
    becomes a link."""
    if not isinstance(value, str):
        return ""
    url = value.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else ""


@dataclass
class AlertRow:
    alert: Alert
    key_labels: list[tuple[str, str]] = field(default_factory=list)
    labels: list[tuple[str, str]] = field(default_factory=list)
    summary: str = ""
    description: str = ""
    other_annotations: list[tuple[str, str]] = field(default_factory=list)
    runbook_url: str = ""
    source_url: str = ""
    # Dashboard, panel, silence, image… (Grafana's URLs, any `<name>_url` annotation).
    links: list[tuple[str, str]] = field(default_factory=list)


def alert_row(alert: Alert) -> AlertRow:
    labels = alert.labels if isinstance(alert.labels, dict) else {}
    annotations = alert.annotations if isinstance(alert.annotations, dict) else {}
    links = [
        (str(k).removesuffix("_url").replace("_", " ").capitalize(), web_url(v))
        for k, v in sorted(annotations.items())
        if str(k).endswith("_url") and k != "runbook_url" and web_url(v)
    ]
    shown = {"summary", "description", "runbook_url"} | {
        k for k in annotations if str(k).endswith("_url") and web_url(annotations[k])
    }
    return AlertRow(
        alert=alert,
        key_labels=[(name, str(labels[name])) for name in KEY_LABELS if labels.get(name)],
        labels=sorted((str(k), str(v)) for k, v in labels.items()),
        summary=str(annotations.get("summary") or ""),
        description=str(annotations.get("description") or ""),
        other_annotations=sorted(
            (str(k), str(v)) for k, v in annotations.items() if k not in shown and v
        ),
        runbook_url=web_url(annotations.get("runbook_url")),
        source_url=web_url(alert.source_url),
        links=links,
    )


def alerts_panel(incident: Incident) -> dict:
    """The incident's alerts, firing first, newest first within each: one query."""
    alerts = Alert.objects.filter(incident=incident).select_related("integration")
    rows = [alert_row(a) for a in alerts.order_by("-last_seen", "-id")]
    rows.sort(key=lambda row: row.alert.status != Alert.Status.FIRING)
    firing = sum(1 for row in rows if row.alert.status == Alert.Status.FIRING)
    return {"rows": rows, "firing": firing, "resolved": len(rows) - firing}
