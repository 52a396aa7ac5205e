from __future__ import annotations

from django.core.management import call_command
from django.test import Client

from incidents.statuspage.models import CommsTemplate, StatusUpdate
from tests.seeds import SEED_FILES


def test_demo_data_shows_an_open_incident_history_and_templates(db):
    call_command("seed_demo")
    data = Client().get("/status.json").json()
    assert [i["name"] for i in data["incidents"]] == ["Delayed email notifications"]
    assert len(data["incidents"][0]["incident_updates"]) == 2
    states = {c["name"]: c["status"] for c in data["components"]}
    assert states["Email and notifications"] == "degraded_performance"
    assert states["Payments and billing"] == "operational"
    history = Client().get("/status/incidents.json").json()["incidents"]
    assert "Plan changes and invoice payments not applied" in [i["name"] for i in history]
    page = Client().get("/status/").content.decode()
    assert "Past Incidents" in page and "invoice payments have been applied" in page
    # The seeds' templates, or the sample runbook's one.
    assert CommsTemplate.objects.filter(origin="runbook").count() >= (3 if SEED_FILES else 1)
    counts = (StatusUpdate.objects.count(), CommsTemplate.objects.count())
    call_command("seed_demo")
    assert (StatusUpdate.objects.count(), CommsTemplate.objects.count()) == counts
