"""{% paging_contacts %}: the profile's paging section, so the profile view needs no change."""

from __future__ import annotations

from django import template

from incidents.escalation.views_contacts import paging_context

register = template.Library()


@register.inclusion_tag("incidents/_paging_contacts.html", takes_context=True)
def paging_contacts(context) -> dict:
    request = context["request"]
    return {
        **paging_context(request.user),
        "request": request,
        "csrf_token": context.get("csrf_token"),
    }
