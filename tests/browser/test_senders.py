"""What responders see of heartbeats and the drop-in senders: the probes dashboard's last
ping and run duration, and an incident with a Grafana alert's links and its service's
recent changes (a deploy announced through PagerDuty's change events)."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO
from pathlib import Path

import httpx
import pytest
from django.utils import timezone
from playwright.sync_api import expect

from incidents.models import Incident, Service
from probes import pings
from probes.models import Probe
from tests.browser.conftest import log_in, watch_errors
from tests.conftest import PASSWORD
from tests.incidents.senders import create_integration
from tests.incidents.test_grafana_intake import GRAFANA

SHOTS = Path("/tmp/shots-13")


@pytest.mark.django_db(transaction=True)
def test_heartbeat_dashboard_and_an_incident_with_links_and_recent_changes(
    browser, live_server, responder, dead_broker
):
    SHOTS.mkdir(parents=True, exist_ok=True)
    base = live_server.url
    service = Service.objects.create(name="Database")
    from django.core.management import call_command

    call_command("create_heartbeat", "nightly-backup", "--period", "86400", "--grace", "3600",
                 "--service", "Database", stdout=StringIO())  # fmt: skip
    call_command("create_heartbeat", "hourly-export", "--period", "3600", "--grace", "300",
                 stdout=StringIO())  # fmt: skip
    backup = Probe.objects.get(name="nightly-backup")
    export = Probe.objects.get(name="hourly-export")
    with httpx.Client(base_url=base, timeout=10) as client:
        assert client.get(backup.ping_path + "/start").text == "OK"
        assert client.post(backup.ping_path, content=b"42 GB").text == "OK"
        assert client.get(export.ping_path).text == "OK"
    # The export's job went silent two hours ago: the sweep opens its incident.
    Probe.objects.filter(pk=export.pk).update(last_ping_at=timezone.now() - timedelta(hours=2))
    assert pings.sweep(list(Probe.objects.filter(pk=export.pk))) == 1

    grafana, token = create_integration("grafana", "Grafana", "--service", "Database")
    deploys, key = create_integration("pagerduty", "Deploys", "--service", "Database")
    with httpx.Client(base_url=base, timeout=30) as client:
        assert client.post(grafana.hook_path(token), json=GRAFANA).status_code == 202
        change = {
            "routing_key": key,
            "payload": {"summary": "Deploy db-migrations 2026.12.01", "source": "argo-cd"},
            "links": [{"href": "https://argo.example.org/app/db", "text": "Argo CD"}],
        }
        response = client.post("/v2/change/enqueue", content=json.dumps(change))
        assert response.status_code == 202, response.text
    incident = Incident.objects.get(alerts__integration=grafana)
    assert incident.services.filter(pk=service.pk).exists()

    for width, height, name in [(1440, 900, "desktop"), (390, 844, "phone")]:
        context = browser.new_context(viewport={"width": width, "height": height})
        errors: list[str] = []
        page = context.new_page()
        watch_errors(page, errors)
        log_in(page, base, responder.username, PASSWORD)
        page.goto(f"{base}/probes/")
        backup_row = page.locator("tr", has_text="nightly-backup")
        expect(backup_row.locator(".pr-ping")).to_contain_text("last ping")
        expect(backup_row.locator(".pr-ping")).to_contain_text("run ")
        expect(backup_row).to_contain_text("ping every 1 d + 1 h grace")
        export_row = page.locator("tr", has_text="hourly-export")
        expect(export_row.locator(".pr-state")).to_have_text("Critical")
        expect(export_row).to_contain_text("INC-")
        page.screenshot(path=str(SHOTS / f"heartbeats-{name}.png"), full_page=True)

        page.goto(f"{base}/probes/{backup.pk}/")
        expect(page.locator(".pr-ping-url")).to_contain_text(f"/ping/{backup.ping_key}")
        page.screenshot(path=str(SHOTS / f"heartbeat-page-{name}.png"), full_page=True)

        page.goto(f"{base}{incident.get_absolute_url()}")
        expect(page.locator("#changes")).to_contain_text("Deploy db-migrations 2026.12.01")
        expect(page.locator("#changes a", has_text="Argo CD ↗")).to_have_attribute(
            "href", "https://argo.example.org/app/db"
        )
        links = page.locator("#alerts .al-links")
        expect(links.locator("a", has_text="Dashboard ↗")).to_have_count(1)
        expect(links.locator("a", has_text="Image ↗")).to_have_count(1)
        page.screenshot(path=str(SHOTS / f"incident-changes-{name}.png"), full_page=True)
        context.close()
        assert errors == []
