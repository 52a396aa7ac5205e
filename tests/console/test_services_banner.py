"""The incident pages' banner while the Celery worker or beat is down (console.heartbeats)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from console import heartbeats
from probes.models import Heartbeat

URL = "/services/banner"


def beat(name: str, seconds_ago: float) -> None:
    Heartbeat.objects.update_or_create(
        name=name, defaults={"beat_at": timezone.now() - timedelta(seconds=seconds_ago)}
    )


@pytest.mark.django_db
def test_no_heartbeat_ever_shows_both_down(responder_client: Client) -> None:
    response = responder_client.get(URL, headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-component="worker"' in html and 'data-component="beat"' in html
    assert "Celery worker is down:</strong>\n  it has never reported in" in html


@pytest.mark.django_db
def test_fresh_heartbeats_render_nothing_and_one_query(
    responder_client: Client, django_assert_num_queries
) -> None:
    heartbeats.beat_once("worker")
    heartbeats.beat_once("beat")
    # session, user, the heartbeats
    with django_assert_num_queries(3):
        response = responder_client.get(URL, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.django_db
def test_a_stale_worker_heartbeat_shows_the_worker_banner_only(responder_client: Client) -> None:
    stale = heartbeats.stale_after().total_seconds()
    beat("worker", stale + 5)
    beat("beat", 1)
    html = responder_client.get(URL).content.decode()
    assert 'data-component="worker"' in html
    assert 'data-component="beat"' not in html
    assert "last heard from" in html
    # Just inside the limit is still up.
    beat("worker", stale - 5)
    assert responder_client.get(URL).content == b""


@pytest.mark.django_db
def test_heartbeat_records_the_process(db) -> None:
    heartbeats.beat_once("worker")
    row = Heartbeat.objects.get(name="worker")
    assert row.info["pid"] > 0 and row.info["host"]


@pytest.mark.django_db
def test_anonymous_is_sent_to_login_and_post_is_refused(client: Client, responder_client) -> None:
    response = client.get(URL)
    assert response.status_code == 302 and response.url.startswith("/login/")
    assert responder_client.post(URL).status_code == 405


@pytest.mark.django_db
def test_incident_pages_carry_the_banner_slot(responder_client: Client, incident) -> None:
    for url in ("/incidents/", f"/incidents/{incident.pk}/"):
        html = responder_client.get(url).content.decode()
        assert 'id="services-banner"' in html and f'hx-get="{URL}"' in html, url
