"""A fresh machine without ../shared/seeds: the sample runbook carries a scenario for every
default routing rule, so the demo alert gets its checklist; re-seeding accepts nothing a
person left pending."""

from __future__ import annotations

import os

from django.core.management import call_command

from incidents.intake.routing import DEFAULT_RULES, current_scenario
from incidents.management.commands.seed_demo import import_demo_runbooks
from runbooks.checklists import ChecklistRun
from runbooks.importer import import_runbook
from runbooks.models import Proposal


def test_every_default_rule_finds_its_scenario_in_the_sample(db, tmp_path):
    import_demo_runbooks(seeds=tmp_path / "no-seeds-here")
    missing = [title for _, _, title in DEFAULT_RULES if current_scenario(title) is None]
    assert missing == []


def test_demo_alert_gets_a_checklist_without_seeds(db, tmp_path, monkeypatch):
    from incidents.management.commands import seed_demo

    original = seed_demo.import_demo_runbooks
    monkeypatch.setattr(
        seed_demo,
        "import_demo_runbooks",
        lambda created=None: original(seeds=tmp_path / "none", created=created),
    )
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    from incidents.models import Incident

    alerted = Incident.objects.get(dedup_key__startswith="alertmanager:")
    run = ChecklistRun.objects.get(incident=alerted)
    assert run.scenario.title == "High Latency"


def test_reseeding_leaves_pending_proposals_alone(db, tmp_path):
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    # A person imports a runbook with a comms template and leaves the proposal pending.
    text = (
        "# Team runbook\n\n## Communication Templates\n\n### Outage\n\n"
        "```\nWe are down: [service].\n```\n"
    )
    version = import_runbook(text.encode(), filename="team.md").version
    pending = Proposal.objects.filter(version=version, kind=Proposal.Kind.COMMS_TEMPLATE)
    assert pending.exists()
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert set(pending.values_list("status", flat=True)) == {Proposal.Status.PROPOSED}
