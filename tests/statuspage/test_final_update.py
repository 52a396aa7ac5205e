"""Resolving an incident that has published updates offers the final public update,
prefilled from a "resolved" template, and publishes it with the resolve."""

from __future__ import annotations

import json

from incidents.models import Status, TimelineEvent
from incidents.statuspage.actions import publish_update
from incidents.statuspage.models import CommsTemplate, StatusUpdate
from tests.conftest import HTMX


def published(incident, lead, service):
    return publish_update(
        incident,
        title="Card payments failing",
        status="identified",
        body="We found the cause.",
        components=[service],
        by=lead,
    )


def test_panel_offers_the_final_update_from_a_resolved_template(
    lead_client, lead, comms_incident, public_service
):
    published(comms_incident, lead, public_service)
    CommsTemplate.objects.create(name="Investigating", body="Looking into [service].")
    CommsTemplate.objects.create(
        name="Incident resolved", body="Resolved: [service] works again since [end time]."
    )
    page = lead_client.get(comms_incident.get_absolute_url()).content.decode()
    assert 'id="final-update"' in page
    assert 'value="Card payments failing"' in page
    assert f"Resolved: {public_service.display_name} works again since" in page
    assert "from “Incident resolved”" in page


def test_no_offer_before_anything_was_published(lead_client, comms_incident):
    page = lead_client.get(comms_incident.get_absolute_url()).content.decode()
    assert 'id="final-update"' not in page


def test_resolve_publishes_the_final_update_in_one_go(
    lead_client, lead, comms_incident, public_service, client
):
    published(comms_incident, lead, public_service)
    response = lead_client.post(
        f"/incidents/{comms_incident.pk}/status/",
        {
            "status": "resolved",
            "note": "rolled back",
            "final_update": "1",
            "final_title": "Card payments failing",
            "final_body": "Payments work again. Sorry for the trouble.",
        },
        **HTMX,
    )
    assert response.status_code == 204
    comms_incident.refresh_from_db()
    assert comms_incident.status == Status.RESOLVED
    final = StatusUpdate.objects.filter(incident=comms_incident).latest("id")
    assert final.status == "resolved" and final.body.startswith("Payments work again")
    assert list(final.components.all()) == [public_service]
    kinds = list(
        TimelineEvent.objects.filter(incident=comms_incident).values_list("kind", flat=True)
    )
    last_publish = len(kinds) - 1 - kinds[::-1].index("update_published")
    assert kinds.index("resolved") < last_publish and kinds.count("update_published") == 2
    data = json.loads(client.get("/status/incidents.json").content)
    (public,) = [i for i in data["incidents"] if i["id"] == str(comms_incident.pk)]
    assert public["status"] == "resolved"
    assert public["incident_updates"][0]["status"] == "resolved"


def test_placeholders_left_refuse_both(lead_client, lead, comms_incident, public_service):
    published(comms_incident, lead, public_service)
    response = lead_client.post(
        f"/incidents/{comms_incident.pk}/status/",
        {"status": "resolved", "final_update": "1", "final_title": "Payments",
         "final_body": "Fixed; the cause was [root cause]."},
        **HTMX,
    )  # fmt: skip
    assert response.status_code == 409 and "[root cause]" in response.content.decode()
    comms_incident.refresh_from_db()
    assert comms_incident.status != Status.RESOLVED
    assert StatusUpdate.objects.filter(incident=comms_incident).count() == 1


def test_resolve_without_the_final_update_still_works(
    lead_client, lead, comms_incident, public_service
):
    published(comms_incident, lead, public_service)
    response = lead_client.post(
        f"/incidents/{comms_incident.pk}/status/", {"status": "resolved"}, **HTMX
    )
    assert response.status_code == 204
    assert StatusUpdate.objects.filter(incident=comms_incident).count() == 1


def test_empty_final_update_is_a_400(lead_client, lead, comms_incident, public_service):
    published(comms_incident, lead, public_service)
    response = lead_client.post(
        f"/incidents/{comms_incident.pk}/status/",
        {"status": "resolved", "final_update": "1", "final_title": "", "final_body": ""},
        **HTMX,
    )
    assert response.status_code == 400
    comms_incident.refresh_from_db()
    assert comms_incident.status != Status.RESOLVED
