"""Timeline events rendered once per process, because an event never changes.

The live section is re-rendered whole after every change on the incident (each open page asks
for it on `incident-changed`), so an incident open for an hour re-renders hundreds of events
for every note. Each event's markup is a long chain of `{% if event.kind == … %}`: on a
100-event incident that was most of the request's CPU, and on the embedded default it is the
CPU the next write waits for.

The timeline is append-only (the database refuses UPDATE and DELETE on it), so an event's
markup depends only on the event row and on what the cache key names: whether it is pinned,
the actor's name (a renamed user), the current day (`clock` shows the date for other days),
the time zone and the language. Nothing per user or per request goes in the cached markup;
the actions (the Pin form with its csrf token, offered by permission) are added each time.

One cache per process, bounded (least recently used go first): no invalidation is needed
between processes since nothing cached can go stale, which is why it is not the shared cache.
On under DEBUG too (`make run` is DEBUG): templates are cached there as well, and the
development server's reloader, which resets them when a template is edited, clears this too.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from django import template
from django.dispatch import receiver
from django.template.loader import get_template
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.autoreload import file_changed
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from incidents.models import TimelineEvent

register = template.Library()

EVENT_TEMPLATE = "incidents/_event.html"
# About 1 KiB each: a few MiB per process at most.
MAX_EVENTS = 5000
RENDER_ENV = "timeline_tags.env"
PIN_FORM = "timeline_tags.pin_form"
# Stands for the event id in the Pin form's URL, which is reversed once per render.
PK_PLACEHOLDER = 987654321987654321


class RenderedEvents:
    """A thread-safe LRU of rendered markup (gunicorn's threads share one)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[tuple, SafeString] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: tuple) -> SafeString | None:
        with self._lock:
            html = self._items.get(key)
            if html is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return html

    def put(self, key: tuple, html: SafeString) -> None:
        with self._lock:
            self._items[key] = html
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._items)


rendered_events = RenderedEvents(MAX_EVENTS)


@receiver(file_changed, dispatch_uid="timeline_tags.template_changed")
def _template_changed(sender, file_path, **kwargs) -> None:
    if file_path.suffix == ".html":
        rendered_events.clear()


def render_env() -> tuple:
    """What else the markup depends on: the day, the time zone and the language."""
    return (
        timezone.localdate().toordinal(),
        timezone.get_current_timezone_name(),
        translation.get_language(),
    )


def event_key(event, pinned: bool, env: tuple) -> tuple:
    actor = event.actor.get_username() if event.actor_id else ""
    # The time too: a rolled-back insert can give its id to the next event (SQLite).
    return (event.pk, event.at, pinned, actor, *env)


@register.simple_tag(takes_context=True)
def timeline_event(context, event) -> SafeString:
    """The event's `<li>`: its cached markup, then the actions this user may take on it.

    Reads `pinned_ids`, `can` and `incident` from the page's context.
    """
    pinned = event.pk in context["pinned_ids"]
    if event.pk is None:
        body = _render(event, pinned)
    else:
        # Once per page render, not per event (a timeline has hundreds).
        env = context.render_context.get(RENDER_ENV)
        if env is None:
            env = context.render_context[RENDER_ENV] = render_env()
        key = event_key(event, pinned, env)
        body = rendered_events.get(key)
        if body is None:
            body = _render(event, pinned)
            rendered_events.put(key, body)
    return body + _actions(context, event, pinned) + mark_safe("</li>")


def _actions(context, event, pinned: bool) -> SafeString:
    if event.kind != TimelineEvent.Kind.NOTE_ADDED or pinned or not context["can"].get("declare"):
        return mark_safe("")
    # The form is the same for every note but its event id: built once per page render.
    form = context.render_context.get(PIN_FORM)
    if form is None:
        url = reverse("incidents:toggle_pin", args=(context["incident"].pk, PK_PLACEHOLDER))
        form = context.render_context[PIN_FORM] = format_html(
            '<form class="event-actions" method="post" action="{0}" hx-post="{0}">'
            '<input type="hidden" name="csrfmiddlewaretoken" value="{1}">'
            '<button class="link-button" type="submit" title="Pin this note to the top">'
            "Pin</button></form>",
            url,
            context.get("csrf_token", ""),
        )
    return mark_safe(form.replace(f"/{PK_PLACEHOLDER}/", f"/{int(event.pk)}/"))


def _render(event, pinned: bool) -> SafeString:
    return mark_safe(get_template(EVENT_TEMPLATE).render({"event": event, "pinned": pinned}))
