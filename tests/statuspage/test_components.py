"""The status page components page: leads show, hide, rename and reorder services; every
change replaces the public page's cached version."""

from __future__ import annotations

import pytest
from django.test import Client

from incidents.models import Service
from tests.conftest import client_for

URL = "/incidents/status-page/components/"


def status_json() -> dict:
    response = Client().get("/status.json")
    assert response.status_code == 200
    return response.json()


def public_names() -> list[str]:
    return [c["name"] for c in status_json()["components"]]


@pytest.fixture
def three(db) -> list[Service]:
    return [
        Service.objects.create(name="api", public=True, public_name="Public API", position=1),
        Service.objects.create(name="web", public=True, position=2),
        Service.objects.create(name="billing-worker", public=True, position=3),
    ]


def test_leads_see_editing_forms_and_responders_read_only(lead_client, responder_client, three):
    Service.objects.create(name="batch-jobs", owner_team="Data")
    page = lead_client.get(URL)
    assert page.status_code == 200
    html = page.content.decode()
    assert html.index("Public API") < html.index('placeholder="web"') < html.index("batch-jobs")
    assert f'action="{URL}{three[0].pk}/move/"' in html
    assert "Show on status page" in html
    assert page.context["nav"] == "comms"

    read = responder_client.get(URL).content.decode()
    assert "Public API" in read and "batch-jobs" in read
    assert '<form method="post" action="/incidents/status-page' not in read
    assert "Show on status page" not in read


def test_showing_and_hiding_a_service_changes_the_public_page(
    lead_client, three, django_capture_on_commit_callbacks
):
    assert public_names() == ["Public API", "web", "billing-worker"]  # cached now
    hidden = Service.objects.create(name="search")
    assert public_names() == ["Public API", "web", "billing-worker"]  # a hidden one: no change

    with django_capture_on_commit_callbacks(execute=True):
        response = lead_client.post(f"{URL}{hidden.pk}/public/", {"public": "1"})
    assert response.status_code == 302
    assert response["Location"] == f"{URL}#service-{hidden.pk}"
    hidden.refresh_from_db()
    assert hidden.public and hidden.position == 4  # last
    assert public_names() == ["Public API", "web", "billing-worker", "search"]

    with django_capture_on_commit_callbacks(execute=True):
        lead_client.post(f"{URL}{three[1].pk}/public/", {"public": "0"})
    assert public_names() == ["Public API", "billing-worker", "search"]


def test_renaming_changes_the_public_page(lead_client, three, django_capture_on_commit_callbacks):
    assert public_names()[1] == "web"
    with django_capture_on_commit_callbacks(execute=True):
        response = lead_client.post(
            f"{URL}{three[1].pk}/",
            {"public_name": "  Dashboard  and\nwebsite ", "public_description": "The app"},
        )
    assert response.status_code == 302
    three[1].refresh_from_db()
    assert three[1].public_name == "Dashboard and website"
    components = status_json()["components"]
    assert components[1]["name"] == "Dashboard and website"
    assert components[1]["description"] == "The app"
    page = Client().get("/status/").content.decode()
    assert "Dashboard and website" in page

    # A blank public name goes back to the internal one.
    with django_capture_on_commit_callbacks(execute=True):
        lead_client.post(f"{URL}{three[1].pk}/", {"public_name": "", "public_description": ""})
    assert public_names()[1] == "web"


def test_a_name_clash_or_too_long_name_is_a_form_error_and_nothing_changes(
    lead_client, three, django_capture_on_commit_callbacks
):
    before = status_json()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = lead_client.post(
            f"{URL}{three[2].pk}/", {"public_name": "public api", "public_description": "x"}
        )
    assert response.status_code == 422
    assert "is already the public name of api" in response.content.decode()
    # What was typed comes back in the row's form.
    assert 'value="public api"' in response.content.decode()
    assert callbacks == []
    three[2].refresh_from_db()
    assert (three[2].public_name, three[2].public_description) == ("", "")

    # Another service's internal name counts as well.
    response = lead_client.post(f"{URL}{three[0].pk}/", {"public_name": "WEB"})
    assert response.status_code == 422
    assert "is already the public name of web" in response.content.decode()

    response = lead_client.post(f"{URL}{three[0].pk}/", {"public_name": "n" * 101})
    assert response.status_code == 422
    assert "at most 100 characters" in response.content.decode()
    three[0].refresh_from_db()
    assert three[0].public_name == "Public API"
    assert status_json() == before

    # Showing a service whose name a component already shows is refused the same way.
    twin = Service.objects.create(name="Web")
    response = lead_client.post(f"{URL}{twin.pk}/public/", {"public": "1"})
    assert response.status_code == 422
    assert "“Web” is already the public name of web" in response.content.decode()
    twin.refresh_from_db()
    assert not twin.public


def test_moving_reorders_and_renumbers_and_refreshes_the_cache(
    lead_client, three, django_capture_on_commit_callbacks
):
    Service.objects.filter(pk=three[2].pk).update(position=1)  # a tie: ordered by name
    assert public_names() == ["Public API", "billing-worker", "web"]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = lead_client.post(f"{URL}{three[2].pk}/move/", {"direction": "up"})
    assert response.status_code == 302
    assert len(callbacks) == 1  # the bulk update's explicit cache bump
    assert public_names() == ["billing-worker", "Public API", "web"]
    positions = dict(Service.objects.values_list("name", "position"))
    assert positions == {"billing-worker": 1, "api": 2, "web": 3}
    assert [c["position"] for c in status_json()["components"]] == [1, 2, 3]

    with django_capture_on_commit_callbacks(execute=True):
        lead_client.post(f"{URL}{three[1].pk}/move/", {"direction": "up"})
    assert public_names() == ["billing-worker", "web", "Public API"]

    # Already first: nothing changes, a warning says so.
    response = lead_client.post(f"{URL}{three[2].pk}/move/", {"direction": "up"}, follow=True)
    assert "is already first" in response.content.decode()
    assert public_names() == ["billing-worker", "web", "Public API"]


def test_bad_posts_are_refused_with_a_reason(lead_client, three):
    hidden = Service.objects.create(name="search")
    response = lead_client.post(f"{URL}{three[0].pk}/move/", {"direction": "sideways"})
    assert response.status_code == 400
    assert b"direction=up" in response.content
    response = lead_client.post(f"{URL}{hidden.pk}/move/", {"direction": "up"})
    assert response.status_code == 400
    assert b"not on the status page" in response.content
    response = lead_client.post(f"{URL}{hidden.pk}/public/", {"public": "yes"})
    assert response.status_code == 400
    hidden.refresh_from_db()
    assert not hidden.public
    assert lead_client.post(f"{URL}424242/public/", {"public": "1"}).status_code == 404


def test_responders_may_not_change_components_and_get_is_405(responder_client, lead_client, three):
    for path, data in (
        (f"{URL}{three[0].pk}/", {"public_name": "Hacked"}),
        (f"{URL}{three[0].pk}/public/", {"public": "0"}),
        (f"{URL}{three[1].pk}/move/", {"direction": "up"}),
    ):
        assert responder_client.post(path, data).status_code == 403
        assert lead_client.get(path).status_code == 405
    three[0].refresh_from_db()
    assert three[0].public and three[0].public_name == "Public API"
    assert public_names() == ["Public API", "web", "billing-worker"]


def test_outsiders_and_anonymous_cannot_see_the_page(outsider, db):
    assert client_for(outsider).get(URL).status_code == 403
    response = Client().get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.parametrize("size", [3, 300])
def test_components_page_queries_do_not_grow(lead_client, size, django_assert_num_queries):
    Service.objects.bulk_create(
        Service(name=f"svc-{n:03}", public=n % 2 == 0, position=n) for n in range(size)
    )
    # session, user, user permissions, group permissions, the services
    with django_assert_num_queries(5):
        response = lead_client.get(URL)
    assert response.status_code == 200
    assert len(response.context["shown"]) + len(response.context["hidden"]) == size


def test_comms_pages_and_the_incident_panel_link_to_the_components(
    responder_client, lead_client, incident
):
    assert f'href="{URL}"' in responder_client.get("/incidents/comms-templates/").content.decode()
    assert f'href="{URL}"' in lead_client.get(incident.get_absolute_url()).content.decode()
