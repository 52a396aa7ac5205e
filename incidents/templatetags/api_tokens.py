"""`{% api_tokens_section %}`: the profile page's API tokens, rendered with their own data so
the profile view needs no change."""

from __future__ import annotations

from django import template

from incidents.api.views import tokens_context

register = template.Library()


@register.inclusion_tag("incidents/_api_tokens.html", takes_context=True)
def api_tokens_section(context) -> dict:
    request = context["request"]
    return {**tokens_context(request.user), "csrf_token": context.get("csrf_token")}
