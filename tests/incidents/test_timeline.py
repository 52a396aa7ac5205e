from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from incidents.models import AppendOnlyError, TimelineEvent


def test_saving_an_existing_event_raises(incident):
    event = incident.events.get()
    event.text = "rewritten history"
    with pytest.raises(AppendOnlyError):
        event.save()
    assert incident.events.get().text == incident.title


def test_queryset_update_and_delete_raise(incident):
    with pytest.raises(AppendOnlyError):
        TimelineEvent.objects.filter(incident=incident).update(text="x")
    with pytest.raises(AppendOnlyError):
        TimelineEvent.objects.filter(incident=incident).delete()
    with pytest.raises(AppendOnlyError):
        incident.events.get().delete()
    assert incident.events.count() == 1


def test_bulk_update_raises(incident):
    event = incident.events.get()
    event.text = "x"
    with pytest.raises(AppendOnlyError):
        TimelineEvent.objects.bulk_update([event], ["text"])


def test_the_database_refuses_a_raw_update(incident):
    event = incident.events.get()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE incidents_timelineevent SET text = %s WHERE id = %s", ["forged", event.pk]
        )
    assert incident.events.get().text == incident.title


@pytest.mark.skipif(connection.vendor != "postgresql", reason="DELETE trigger is PostgreSQL-only")
def test_postgres_refuses_a_raw_delete(incident):
    event = incident.events.get()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM incidents_timelineevent WHERE id = %s", [event.pk])
    assert incident.events.filter(pk=event.pk).exists()


def test_admin_shows_events_read_only(admin_client, incident):
    event = incident.events.get()
    response = admin_client.get(f"/admin/incidents/timelineevent/{event.pk}/change/")
    assert response.status_code == 200
    assert b'name="text"' not in response.content  # no editable field
    response = admin_client.post(
        f"/admin/incidents/timelineevent/{event.pk}/change/", {"text": "edited"}
    )
    assert response.status_code == 403
    response = admin_client.post(
        f"/admin/incidents/timelineevent/{event.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 403
    assert incident.events.get().text == incident.title
