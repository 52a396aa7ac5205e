"""Timeline events are rendered once per process and kept: the markup must stay exactly what
a fresh render gives, follow pinning and renames, and carry nothing of another user."""

from __future__ import annotations

import re

from django.contrib.auth.models import Permission, User
from django.test import Client

from incidents import actions
from incidents.models import PinnedNote
from incidents.templatetags.timeline_tags import rendered_events
from tests.conftest import HTMX, PASSWORD

TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')


def live(client: Client, incident) -> str:
    response = client.get(f"/incidents/{incident.pk}/timeline/", **HTMX)
    assert response.status_code == 200
    # Tokens are masked afresh for every response: compare everything else.
    return TOKEN.sub('name="csrfmiddlewaretoken" value=""', response.content.decode())


def events_of(body: str) -> list[str]:
    return re.findall(r'<li class="event .*?</li>', body, flags=re.S)


def test_a_cached_timeline_is_the_markup_a_fresh_render_gives(
    responder_client, incident, responder
):
    for n in range(30):
        actions.add_note(incident, text=f"finding {n} <b>not bold</b>\nsecond line", by=responder)
    actions.change_status(incident, to="identified", by=responder)
    # The header's "x ago" moves between requests; the events must not.
    fresh = events_of(live(responder_client, incident))
    assert rendered_events.misses == 32 and rendered_events.hits == 0
    cached = events_of(live(responder_client, incident))
    assert rendered_events.hits == 32
    assert cached == fresh
    rendered_events.clear()
    assert events_of(live(responder_client, incident)) == cached
    # Escaped and line-broken as before, each note with its Pin form, every <li> closed.
    items = cached
    assert any("finding 7 &lt;b&gt;not bold&lt;/b&gt;<br>second line" in item for item in items)
    assert len(items) == 32
    assert sum('title="Pin this note to the top"' in item for item in items) == 30


def test_pinning_shows_in_the_cached_timeline_at_once(responder_client, incident, responder):
    note = actions.add_note(incident, text="Root cause: expired cert", by=responder)
    before = live(responder_client, incident)
    [item] = [i for i in events_of(before) if f'id="event-{note.pk}"' in i]
    assert "is-pinned" not in item and f"/notes/{note.pk}/pin/" in item

    assert (
        responder_client.post(f"/incidents/{incident.pk}/notes/{note.pk}/pin/", **HTMX).status_code
        == 204
    )
    assert PinnedNote.objects.filter(event=note).exists()
    after = live(responder_client, incident)
    [item] = [i for i in events_of(after) if f'id="event-{note.pk}"' in i]
    assert "is-pinned" in item and "/pin/" not in item


def test_a_renamed_actor_shows_under_the_new_name(responder_client, incident, responder):
    actions.add_note(incident, text="Looking at the load balancer", by=responder)
    assert '<span class="actor">rita</span>' in live(responder_client, incident)
    responder.username = "rita.s"
    responder.save()
    body = live(responder_client, incident)
    assert '<span class="actor">rita.s</span>' in body and ">rita<" not in body


def test_the_cache_carries_no_other_users_actions_or_token(
    responder_client, incident, responder, groups
):
    actions.add_note(incident, text="Rolled back to v41", by=responder)
    # Warm the cache as someone who may pin.
    assert "Pin this note" in live(responder_client, incident)

    # Someone who may only look at incidents gets the same events without the form.
    viewer = User.objects.create_user("vic", "vic@example.com", PASSWORD)
    viewer.user_permissions.add(
        Permission.objects.get(codename="view_incident", content_type__app_label="incidents")
    )
    viewer_client = Client()
    viewer_client.force_login(viewer)
    body = viewer_client.get(f"/incidents/{incident.pk}/timeline/", **HTMX).content.decode()
    assert "Rolled back to v41" in body
    assert "Pin this note" not in body and "/pin/" not in body

    # A second responder's Pin form carries their own token: the pin passes the CSRF check.
    other = User.objects.create_user("omar", "omar@example.com", PASSWORD)
    other.groups.set(responder.groups.all())
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(other)
    page = strict.get(f"/incidents/{incident.pk}/timeline/", **HTMX).content.decode()
    [form] = re.findall(r'<form class="event-actions".*?</form>', page, flags=re.S)
    action = re.search(r'action="([^"]+)"', form).group(1)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    response = strict.post(action, {"csrfmiddlewaretoken": token}, **HTMX)
    assert response.status_code == 204
    assert PinnedNote.objects.get().pinned_by == other


def test_earlier_events_use_the_same_markup(responder_client, incident, responder, settings):
    settings.TIMELINE_PAGE_SIZE = 5
    notes = [actions.add_note(incident, text=f"n{n}", by=responder) for n in range(12)]
    responder_client.get(incident.get_absolute_url())
    oldest_shown = min(n.pk for n in notes[-5:])
    response = responder_client.get(
        f"/incidents/{incident.pk}/timeline/?before={oldest_shown}", **HTMX
    )
    body = response.content.decode()
    shown = events_of(body)
    assert len(shown) == 5
    assert all("</li>" in item and "Pin this note" in item for item in shown)
