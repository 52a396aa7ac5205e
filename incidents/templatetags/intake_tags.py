"""The console-health parts every page shows of alert intake: the count of failed deliveries
beside "Integrations" in the nav, and a banner while deliveries fail or wait unprocessed."""

from __future__ import annotations

from django import template

from incidents.intake.process import Health, health

register = template.Library()


@register.simple_tag
def intake_health() -> Health:
    return health()


@register.inclusion_tag("incidents/_intake_health.html", takes_context=True)
def intake_health_banner(context: template.Context) -> dict:
    return {"health": health(), "perms": context.get("perms")}
