"""The way into the status-update editor follows the poll: someone made Communicator while
the incident page is open gets it without a reload, and the poll never carries the editor
(so it never replaces what someone is typing)."""

from __future__ import annotations

from incidents import actions
from tests.conftest import HTMX, client_for, make_user


def poll(client, incident, since: int = 0) -> str:
    response = client.get(f"/incidents/{incident.pk}/timeline/?since={since}", **HTMX)
    assert response.status_code == 200
    return response.content.decode()


def entry(html: str) -> str:
    start = html.index('<div id="su-entry"')
    return html[start : html.index("</div>", start)]


def test_the_poll_offers_the_editor_to_a_new_communicator(comms_incident, lead):
    cora = make_user("cora", "Responder")
    client = client_for(cora)
    compose = f"/incidents/{comms_incident.pk}/status-updates/compose/"

    page = client.get(comms_incident.get_absolute_url()).content.decode()
    assert 'id="su-editor-slot"></div>' in page  # nothing to write with yet
    assert "Write a status update" not in entry(page)
    before = poll(client, comms_incident)
    assert 'hx-swap-oob="true"' in entry(before)
    assert "Write a status update" not in entry(before)

    actions.assign_role(comms_incident, role="communicator", user=cora, by=lead)
    after = poll(client, comms_incident)
    offered = entry(after)
    assert "Write a status update" in offered
    assert f'hx-get="{compose}"' in offered and f'href="{compose}"' in offered
    assert 'hx-target="#su-editor-slot"' in offered
    # The poll carries the way in, never the editor itself.
    assert 'id="su-editor"' not in after and 'id="su-form"' not in after
    # And the way in works: the editor, open.
    editor = client.get(compose, **HTMX)
    assert editor.status_code == 200
    assert '<details id="su-editor" class="su-editor" open>' in editor.content.decode()

    # Handing the role on takes the way in away again.
    actions.assign_role(comms_incident, role="communicator", user=lead, by=lead)
    assert "Write a status update" not in entry(poll(client, comms_incident))


def test_a_publisher_page_keeps_the_editor_outside_the_polled_parts(comms_incident, lead):
    page = client_for(lead).get(comms_incident.get_absolute_url()).content.decode()
    slot = page.index('<div id="su-editor-slot">')
    assert page.index('id="su-form"') > slot
    assert page.index('<div id="su-entry"') < slot  # the entry is a sibling, not a parent
    assert "Write a status update" in entry(page)  # hidden by CSS while the editor is there
