from __future__ import annotations

from django import template
from django.utils.html import format_html

from console.formtoken import FIELD, new_token

register = template.Library()


@register.simple_tag
def form_token() -> str:
    """A fresh one-time token for a form that creates something (see console/formtoken.py)."""
    return format_html('<input type="hidden" name="{}" value="{}">', FIELD, new_token())
