"""Reading review: a lead's corrections of how a runbook is read, kept by anchor path and
re-applied to later versions; responders attaching any section; same-title runbooks."""

from __future__ import annotations

import pytest
from django.test import Client

from incidents.models import TimelineEvent
from runbooks import checklists
from runbooks.corrections import anchor_paths, find_section, walk
from runbooks.importer import import_runbook
from runbooks.models import (
    ChecklistRun,
    ReadingCorrection,
    RunbookSection,
    RunbookVersion,
    Scenario,
)
from runbooks.parser import parse_runbook
from runbooks.steps import checklist_steps
from runbooks.suggest import load_candidates
from tests.conftest import HTMX, client_for
from tests.runbooks.test_parser import SEED_FILES

QUEUE = """# Queue service runbook

## Worker stuck (P2)

**Symptoms:**
- Jobs pile up in the default queue

**Diagnosis:**
1. Count the queue: `redis-cli llen jobs`

**Resolution:**
1. Restart the worker: `systemctl restart worker`

## Escalation

1. Page the queue on-call through the pager.
2. After 15 minutes, call the platform lead.
3. Open a vendor ticket if the broker itself is down.

## Maintenance

Nothing here is urgent.
"""
ESCALATION = "queue-service-runbook/escalation"
EXTRA_SCENARIO = """## Producer flood (P1)

**Symptoms:**
- Queue grows by thousands per second

**Resolution:**
1. Throttle the producers: `queuectl throttle --all`

"""


def queue_v1(lead) -> RunbookVersion:
    return import_runbook(QUEUE, filename="queue.md", by=lead).version


def correct(client: Client, path: str = ESCALATION, slug: str = "queue", **fields) -> object:
    data = {"path": path, "kind": "", "title": "", "severity": "", **fields}
    return client.post(f"/runbooks/{slug}/corrections/", data)


def make_escalation_a_procedure(client: Client):
    return correct(client, kind="procedure", title="Escalate a stuck queue", severity="P1")


def units(version: RunbookVersion) -> dict[str, Scenario]:
    return {s.title: s for s in Scenario.objects.units().filter(version=version)}


def worker_stuck(version: RunbookVersion) -> Scenario:
    return Scenario.objects.units().get(version=version, anchor="worker-stuck-p2")


# -- Anchor paths ----------------------------------------------------------------------------


def test_anchor_paths_use_unsuffixed_anchors_and_number_same_named_siblings():
    tree, _ = parse_runbook(
        "# Top\n\n## Redis down\n\n### Diagnosis\n\nx\n\n## Postgres down\n\n### Diagnosis\n\n"
        "y\n\n### Diagnosis\n\nz\n"
    )
    paths = sorted(anchor_paths(tree).values())
    assert paths == [
        "top",
        "top/postgres-down",
        "top/postgres-down/diagnosis",
        "top/postgres-down/diagnosis~2",
        "top/redis-down",
        "top/redis-down/diagnosis",
    ]


def test_a_suffixed_anchor_reads_back_to_its_base():
    # As GitHub anchors the second "Diagnosis" (diagnosis-1), whatever the parser stores.
    tree, _ = parse_runbook("# Top\n\n## A\n\n### Diagnosis\n\n## B\n\n### Diagnosis\n")
    second = tree["children"][0]["children"][1]["children"][0]
    second["anchor"] = "diagnosis-1"
    assert anchor_paths(tree)[id(second)] == "top/b/diagnosis"


# -- Correcting the current version ----------------------------------------------------------


def test_lead_makes_a_section_a_unit_renames_it_and_sets_severity(lead, lead_client):
    version = queue_v1(lead)
    assert find_section(version.tree, ESCALATION)["kind"] == "section"
    assert "Escalate a stuck queue" not in units(version)

    response = make_escalation_a_procedure(lead_client)

    assert response.status_code == 302
    assert response["Location"].startswith("/runbooks/queue/v/1/reading/#review-")
    version.refresh_from_db()
    node = find_section(version.tree, ESCALATION)
    assert node["kind"] == "procedure"
    assert node["title"] == "Escalate a stuck queue"
    assert node["severity"] == "P1"
    read = {"kind": "section", "title": "Escalation", "severity": None}
    assert node["correction"]["read"] == read
    assert node["checklist"] == checklist_steps(node)
    unit = units(version)["Escalate a stuck queue"]
    assert (unit.kind, unit.severity, unit.anchor) == ("procedure", "P1", "escalation")
    assert "Page the queue on-call" in unit.search_text
    # The section index and the audit record follow.
    indexed = RunbookSection.objects.get(version=version, anchor_path=ESCALATION)
    assert (indexed.kind, indexed.title, indexed.severity) == ("procedure", unit.title, "P1")
    correction = ReadingCorrection.objects.get()
    assert correction.corrected_by == lead
    assert correction.section_title == "Escalation"
    assert correction.history[-1]["by"] == lead.username
    assert correction.history[-1]["version"] == 1
    assert correction.history[-1]["changes"] == {
        "kind": ["", "procedure"],
        "title": ["", "Escalate a stuck queue"],
        "severity": ["", "P1"],
    }


def test_the_reading_page_shows_the_correction_and_what_was_read(lead, lead_client):
    queue_v1(lead)
    make_escalation_a_procedure(lead_client)
    response = lead_client.get("/runbooks/queue/v/1/reading/")
    assert response.status_code == 200
    section = next(s for s in response.context["sections"] if s.anchor_path == ESCALATION)
    assert (section.role, section.kind) == ("unit", "procedure")
    assert section.title == "Escalate a stuck queue"
    assert [len(g.steps) for g in section.groups] == [3]
    html = response.content.decode()
    assert "Read as <strong>not a unit</strong> “Escalation”" in html
    assert "corrected by leo" in html
    assert "Undo: read it as imported" in html


def test_the_reading_tells_units_context_and_reference_apart(lead, responder_client):
    queue_v1(lead)
    response = responder_client.get("/runbooks/queue/v/1/reading/")
    roles = {s.anchor_path: s.role for s in response.context["sections"]}
    assert roles["queue-service-runbook/worker-stuck-p2"] == "unit"
    assert roles["queue-service-runbook/worker-stuck-p2/symptoms"] == "context"
    assert roles["queue-service-runbook/worker-stuck-p2/diagnosis"] == "steps"
    assert roles["queue-service-runbook/maintenance"] == "reference"
    # Responders read the review; only leads get the forms.
    assert b"Save correction" not in response.content


def test_not_a_unit_takes_it_out_of_what_is_offered(lead, lead_client):
    version = queue_v1(lead)
    response = correct(lead_client, "queue-service-runbook/worker-stuck-p2", kind="section")
    assert response.status_code == 302
    assert not [c for c in load_candidates() if c.anchor == "worker-stuck-p2"]
    assert not units(version)
    node = find_section(RunbookVersion.objects.get().tree, "queue-service-runbook/worker-stuck-p2")
    assert node["kind"] == "section" and "checklist" not in node


def test_undo_reads_it_as_imported_and_keeps_the_history(lead, lead_client):
    version = queue_v1(lead)
    make_escalation_a_procedure(lead_client)
    response = correct(lead_client)  # every field "as read"
    assert response.status_code == 302
    version.refresh_from_db()
    node = find_section(version.tree, ESCALATION)
    assert (node["kind"], node["title"], "correction" in node) == ("section", "Escalation", False)
    assert "Escalate a stuck queue" not in units(version)
    correction = ReadingCorrection.objects.get()
    assert correction.is_empty
    assert len(correction.history) == 2


def test_a_checklist_attached_before_a_correction_keeps_what_it_was_attached_with(
    lead, lead_client, incident, responder
):
    version = queue_v1(lead)
    worker = worker_stuck(version)
    run = checklists.attach_scenario(incident, worker, by=responder)
    steps_before = list(run.steps.values_list("text", flat=True))

    correct(
        lead_client,
        "queue-service-runbook/worker-stuck-p2",
        title="Workers stuck on the default queue",
        severity="P1",
    )

    run.refresh_from_db()
    worker.refresh_from_db()
    assert run.scenario_id == worker.pk
    assert worker.title.startswith("Worker stuck") and worker.severity == "P2"
    assert worker.retired_at is not None
    assert list(run.steps.values_list("text", flat=True)) == steps_before
    # The corrected unit is offered in its place, and counts as attached already.
    new = units(version)["Workers stuck on the default queue"]
    assert (new.severity, new.path) == ("P1", worker.path)
    panel = checklists.checklist_panel(incident, services=[])
    assert new.pk in panel.attached_ids
    assert [c.title for _label, group in panel.library for c in group] == [
        "Workers stuck on the default queue"
    ]


def test_an_unattached_row_is_corrected_in_place(lead, lead_client):
    version = queue_v1(lead)
    worker = worker_stuck(version)
    correct(lead_client, "queue-service-runbook/worker-stuck-p2", severity="P0")
    worker.refresh_from_db()
    assert (worker.severity, worker.retired_at) == ("P0", None)


# -- Later versions --------------------------------------------------------------------------


def test_corrections_are_reapplied_to_later_versions(lead, lead_client):
    queue_v1(lead)
    make_escalation_a_procedure(lead_client)
    # v2 adds a scenario before it and rewords a step: the section's path is unchanged.
    text = QUEUE.replace("## Escalation", EXTRA_SCENARIO + "## Escalation").replace(
        "call the platform lead", "call the platform lead on their phone"
    )
    v2 = import_runbook(text, filename="queue.md", by=lead).version
    assert v2.number == 2
    node = find_section(v2.tree, ESCALATION)
    assert (node["kind"], node["title"], node["severity"]) == (
        "procedure",
        "Escalate a stuck queue",
        "P1",
    )
    assert any("on their phone" in step["text"] for step in node["checklist"])
    assert "Escalate a stuck queue" in units(v2)
    assert not [w for w in v2.warnings if w["kind"] == "correction"]
    assert RunbookSection.objects.get(version=v2, anchor_path=ESCALATION).kind == "procedure"


def test_a_correction_whose_section_is_gone_is_a_visible_warning(
    lead, lead_client, responder_client
):
    queue_v1(lead)
    make_escalation_a_procedure(lead_client)
    start = QUEUE.index("## Escalation")
    text = QUEUE[:start] + QUEUE[QUEUE.index("## Maintenance") :]
    v2 = import_runbook(text, filename="queue.md", by=lead).version

    [warning] = [w for w in v2.warnings if w["kind"] == "correction"]
    assert warning["anchor_path"] == ESCALATION
    assert "“Escalation” was not applied" in warning["message"]
    assert "Escalate a stuck queue" not in units(v2)
    page = responder_client.get("/runbooks/queue/")
    assert "“Escalation” was not applied" in page.content.decode()
    review = lead_client.get("/runbooks/queue/v/2/reading/")
    assert "Corrections not applied to this version" in review.content.decode()
    assert "Forget this correction" in review.content.decode()
    # Forgetting it clears the warning from the current version.
    assert correct(lead_client).status_code == 302
    v2.refresh_from_db()
    assert not [w for w in v2.warnings if w["kind"] == "correction"]


def test_a_correction_follows_its_section_when_it_moves(lead, lead_client):
    queue_v1(lead)
    make_escalation_a_procedure(lead_client)
    start, end = QUEUE.index("## Escalation"), QUEUE.index("## Maintenance")
    moved = QUEUE[start:end].replace("## Escalation", "### Escalation")
    text = QUEUE[:start] + QUEUE[end:] + "\n" + moved
    v2 = import_runbook(text, filename="queue.md", by=lead).version
    node = find_section(v2.tree, "queue-service-runbook/maintenance/escalation")
    assert node["title"] == "Escalate a stuck queue"
    [warning] = [w for w in v2.warnings if w["kind"] == "correction"]
    assert "now at queue-service-runbook/maintenance/escalation" in warning["message"]


def test_older_versions_keep_their_reading(lead, lead_client):
    v1 = queue_v1(lead)
    v2 = import_runbook(QUEUE + "\nMore.\n", filename="queue.md", by=lead).version
    make_escalation_a_procedure(lead_client)
    v1.refresh_from_db()
    assert find_section(v1.tree, ESCALATION)["kind"] == "section"
    assert find_section(RunbookVersion.objects.get(pk=v2.pk).tree, ESCALATION)["kind"] == (
        "procedure"
    )
    # The old version's review has no forms and says where corrections are made.
    response = lead_client.get("/runbooks/queue/v/1/reading/")
    assert b"Save correction" not in response.content
    assert b"current version&#x27;s review" in response.content or b"current version's review" in (
        response.content
    )


# -- Refused corrections ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"kind": "chapter"}, "Choose scenario, procedure"),
        ({"severity": "P7"}, "Choose a severity"),
        ({"title": "x" * 301}, "under 300 characters"),
        ({"path": "queue-service-runbook/nowhere", "kind": "procedure"}, "no such section"),
        ({}, "nothing to correct"),
    ],
)
def test_a_bad_correction_is_400_and_stores_nothing(lead, lead_client, fields, message):
    version = queue_v1(lead)
    tree = version.tree
    response = correct(lead_client, **fields)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ReadingCorrection.objects.exists()
    version.refresh_from_db()
    assert version.tree == tree


def test_only_leads_correct(lead, responder_client, outsider):
    queue_v1(lead)
    assert make_escalation_a_procedure(responder_client).status_code == 403
    assert make_escalation_a_procedure(client_for(outsider)).status_code == 403
    anonymous = make_escalation_a_procedure(Client())
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    assert not ReadingCorrection.objects.exists()


def test_correcting_is_post_only_and_the_review_is_read_only(lead, lead_client):
    queue_v1(lead)
    assert lead_client.get("/runbooks/queue/corrections/").status_code == 405
    assert lead_client.post("/runbooks/queue/v/1/reading/").status_code == 405
    assert lead_client.post("/runbooks/queue/reading/").status_code == 405


def test_review_pages_need_the_runbook_permission(lead, outsider):
    queue_v1(lead)
    client = client_for(outsider)
    assert client.get("/runbooks/queue/v/1/reading/").status_code == 403
    assert client.get("/runbooks/queue/reading/").status_code == 403
    assert Client().get("/runbooks/queue/v/1/reading/").status_code == 302


def test_the_current_review_redirects_to_its_version(lead, responder_client):
    queue_v1(lead)
    response = responder_client.get("/runbooks/queue/reading/")
    assert (response.status_code, response["Location"]) == (302, "/runbooks/queue/v/1/reading/")
    assert responder_client.get("/runbooks/queue/v/9/reading/").status_code == 404


@pytest.mark.parametrize("size", ["small", "largest seed"])
def test_reading_page_queries_do_not_grow(lead, lead_client, size, django_assert_num_queries):
    if size == "largest seed":
        if not SEED_FILES:
            pytest.skip("../shared/seeds is not here")
        path = max(SEED_FILES, key=lambda p: p.stat().st_size)
        version = import_runbook(path.read_bytes(), filename=path.name).version
        paths = anchor_paths(version.tree)
        for node, _p, _a in list(walk(version.tree))[:5]:
            correct(lead_client, paths[id(node)], version.runbook.slug, title=f"{node['title']}!")
    else:
        version = queue_v1(lead)
        make_escalation_a_procedure(lead_client)
    url = f"/runbooks/{version.runbook.slug}/v/{version.number}/reading/"
    # session, user, user permissions, group permissions, the version with its runbook, the
    # runbook's current version number and who imported it (one join), the corrections
    with django_assert_num_queries(6):
        response = lead_client.get(url)
    assert response.status_code == 200


# -- Any section can be followed -------------------------------------------------------------


def test_a_responder_finds_and_attaches_a_section_that_is_not_a_unit(
    lead, responder_client, incident
):
    version = queue_v1(lead)
    response = responder_client.get(
        f"/incidents/{incident.pk}/checklists/sections/?q=vendor ticket", **HTMX
    )
    assert response.status_code == 200
    section = RunbookSection.objects.get(version=version, anchor_path=ESCALATION)
    assert (section.title, section.kind, section.step_count) == ("Escalation", "section", 3)
    # Only the section that says it, not the chapter around it.
    assert response.content.decode().count('class="cl-section-result"') == 1
    assert f'name="section" value="{section.pk}"'.encode() in response.content
    assert b"queue.md" in response.content

    since = TimelineEvent.objects.filter(incident=incident).count()
    response = responder_client.post(
        f"/incidents/{incident.pk}/checklists/", {"section": section.pk}, **HTMX
    )

    assert response.status_code == 204
    run = ChecklistRun.objects.get(incident=incident)
    assert run.scenario.kind == Scenario.Kind.SECTION
    assert run.scenario.version_id == version.pk
    expected = checklist_steps(find_section(version.tree, ESCALATION))
    assert [s.text for s in run.steps.all()] == [s["text"] for s in expected]
    [event] = TimelineEvent.objects.filter(incident=incident)[since:]
    assert event.kind == "checklist_attached"
    assert event.data["kind"] == "section" and event.data["steps"] == 3
    # Not offered as a unit, and attaching it again is refused.
    assert "Escalation" not in {c.title for c in load_candidates()}
    again = responder_client.post(
        f"/incidents/{incident.pk}/checklists/", {"section": section.pk}, **HTMX
    )
    assert again.status_code == 409
    assert Scenario.objects.filter(kind="section").count() == 1


def test_attaching_a_section_that_is_a_unit_attaches_the_unit(lead, incident, responder):
    version = queue_v1(lead)
    section = RunbookSection.objects.get(
        version=version, anchor_path="queue-service-runbook/worker-stuck-p2"
    )
    run = checklists.attach_section(incident, section, by=responder)
    assert run.scenario == worker_stuck(version)


def test_the_section_made_a_unit_is_attached_by_a_responder(
    lead, lead_client, responder_client, incident
):
    queue_v1(lead)
    make_escalation_a_procedure(lead_client)
    response = responder_client.get(f"/incidents/{incident.pk}/")
    assert "Escalate a stuck queue · P1" in response.content.decode()
    unit = Scenario.objects.units().get(title="Escalate a stuck queue")
    response = responder_client.post(
        f"/incidents/{incident.pk}/checklists/", {"scenario": unit.pk}, **HTMX
    )
    assert response.status_code == 204
    run = ChecklistRun.objects.get(incident=incident)
    assert run.steps.count() == 3 and run.scenario.severity == "P1"


def test_section_search_without_javascript_is_a_page(lead, responder_client, incident):
    queue_v1(lead)
    response = responder_client.get(f"/incidents/{incident.pk}/checklists/sections/?q=escalation")
    assert response.status_code == 200
    assert b"<h1>Follow a runbook section</h1>" in response.content
    assert b'name="section"' in response.content


def test_section_search_sees_only_current_versions(lead, responder_client, incident):
    queue_v1(lead)
    import_runbook(QUEUE.replace("vendor ticket", "supplier case"), filename="queue.md")
    url = f"/incidents/{incident.pk}/checklists/sections/"
    assert b"cl-section-result" not in responder_client.get(f"{url}?q=vendor", **HTMX).content
    old = RunbookSection.objects.get(version__number=1, anchor_path=ESCALATION)
    response = responder_client.post(
        f"/incidents/{incident.pk}/checklists/", {"section": old.pk}, **HTMX
    )
    assert response.status_code == 404


def test_section_search_and_attach_permissions(lead, incident, outsider, responder_client):
    version = queue_v1(lead)
    section = RunbookSection.objects.get(version=version, anchor_path=ESCALATION)
    url = f"/incidents/{incident.pk}/checklists/sections/?q=escalation"
    outsider_client = client_for(outsider)
    assert outsider_client.get(url).status_code == 403
    attach = f"/incidents/{incident.pk}/checklists/"
    assert outsider_client.post(attach, {"section": section.pk}).status_code == 403
    assert Client().get(url).status_code == 302
    assert responder_client.post(url).status_code == 405
    assert responder_client.post(attach, {"section": "x"}, **HTMX).status_code == 400
    assert not ChecklistRun.objects.exists()


@pytest.mark.parametrize("runbooks", [1, 6])
def test_section_search_queries_do_not_grow(
    lead, responder_client, incident, runbooks, django_assert_num_queries
):
    for n in range(runbooks):
        import_runbook(QUEUE.replace("Queue service", f"Queue {n}"), filename=f"queue-{n}.md")
    url = f"/incidents/{incident.pk}/checklists/sections/?q=vendor"
    # session, user, user permissions, group permissions, the incident, the sections found
    # with their version and runbook (one join)
    with django_assert_num_queries(6):
        response = responder_client.get(url, **HTMX)
    assert response.content.decode().count('class="cl-section-result"') == runbooks


# -- Runbooks that share a title -------------------------------------------------------------


def test_runbooks_sharing_a_title_stay_apart(lead, responder_client, incident):
    other = QUEUE.replace("Restart the worker", "Recycle the worker pod")
    import_runbook(QUEUE, filename="queue.md")
    import_runbook(other, filename="queue-k8s.md")
    page = responder_client.get(f"/incidents/{incident.pk}/")
    library = page.context["checklists"].library
    assert [label for label, _ in library] == [
        "Queue service runbook (queue.md)",
        "Queue service runbook (queue-k8s.md)",
    ]
    assert [[c.runbook_filename for c in group] for _, group in library] == [
        ["queue.md"],
        ["queue-k8s.md"],
    ]
    html = page.content.decode()
    assert 'optgroup label="Queue service runbook (queue.md)"' in html
    assert 'optgroup label="Queue service runbook (queue-k8s.md)"' in html
    # Library search results and the section search name the file.
    search = responder_client.get("/runbooks/?q=worker", **HTMX).content.decode()
    assert "queue.md" in search and "queue-k8s.md" in search
    sections = responder_client.get(
        f"/incidents/{incident.pk}/checklists/sections/?q=worker", **HTMX
    ).content.decode()
    assert "queue.md" in sections and "queue-k8s.md" in sections


def test_suggestions_name_the_file(lead, responder_client, service):
    from incidents import actions

    import_runbook(QUEUE, filename="queue.md")
    import_runbook(QUEUE, filename="queue-k8s.md")
    incident = actions.declare_incident(
        title="Worker stuck", severity="P2", declared_by=lead, services=[service]
    )
    page = responder_client.get(f"/incidents/{incident.pk}/")
    suggestions = page.context["checklists"].suggestions
    assert {s.candidate.runbook_filename for s in suggestions} == {"queue.md", "queue-k8s.md"}
    html = page.content.decode()
    assert html.count('<span class="ref">queue.md</span>') == 1
    assert html.count('<span class="ref">queue-k8s.md</span>') == 1


def test_step_links_of_an_attached_section_land_on_the_section(lead, incident, responder):
    from runbooks.render import step_urls

    version = queue_v1(lead)
    section = RunbookSection.objects.get(version=version, anchor_path=ESCALATION)
    run = checklists.attach_section(incident, section, by=responder)
    assert step_urls(run.scenario)(2) == f"{version.get_absolute_url()}#escalation"


@pytest.mark.parametrize(
    "role, review, correction, search",
    [
        ("outsider", 403, 403, 403),
        ("responder", 200, 403, 200),
        ("lead", 200, 302, 200),
        ("manager", 200, 302, 200),
    ],
)
def test_permission_matrix(request, lead, incident, role, review, correction, search):
    queue_v1(lead)
    client = client_for(request.getfixturevalue(role))
    assert client.get("/runbooks/queue/v/1/reading/").status_code == review
    assert make_escalation_a_procedure(client).status_code == correction
    url = f"/incidents/{incident.pk}/checklists/sections/?q=vendor"
    assert client.get(url).status_code == search


def test_history_links_each_versions_review(lead, responder_client):
    queue_v1(lead)
    response = responder_client.get("/runbooks/queue/versions/")
    assert b'href="/runbooks/queue/v/1/reading/"' in response.content


def test_a_common_anchor_is_not_taken_for_another_section(lead, lead_client):
    text = QUEUE.replace(
        "## Escalation",
        EXTRA_SCENARIO.replace("**Resolution:**", "**Diagnosis:**\n1. Look\n\n**Resolution:**")
        + "## Escalation",
    )
    import_runbook(text, filename="queue.md", by=lead)
    path = "queue-service-runbook/producer-flood-p1/diagnosis"
    assert correct(lead_client, path, kind="procedure").status_code == 302
    assert not ReadingCorrection.objects.get().anchor_was_unique
    # v2 drops that scenario: the other scenario's Diagnosis is not it.
    v2 = import_runbook(QUEUE, filename="queue.md", by=lead).version
    node = find_section(v2.tree, "queue-service-runbook/worker-stuck-p2/diagnosis")
    assert node["kind"] == "section" and "correction" not in node
    [warning] = [w for w in v2.warnings if w["kind"] == "correction"]
    assert warning["anchor_path"] == path


def test_the_migration_indexes_versions_imported_before_the_index(lead):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("runbooks.migrations.0003_11review_reading_review")
    version = queue_v1(lead)
    fields = ("anchor_path", "title", "trail", "kind", "step_count", "position", "search_text")
    indexed = list(version.sections.values_list(*fields))
    RunbookSection.objects.all().delete()
    migration.index_sections(apps, None)
    assert list(version.sections.values_list(*fields)) == indexed


CHECKED = """# Broker runbook

## Broker checks

1. Ping the broker:
   ```sh
   redis-cli -u $BROKER_URL ping
   ```
2. Tell the team.
"""


def test_a_section_made_a_unit_offers_its_step_checks(lead, lead_client):
    from runbooks.models import Proposal

    version = import_runbook(CHECKED, filename="broker.md", by=lead).version
    path = "broker-runbook/broker-checks"
    if find_section(version.tree, path)["kind"] != "section":
        correct(lead_client, path, "broker", kind="section")
        Proposal.objects.filter(kind="step_checks").delete()
    assert not Proposal.objects.filter(kind="step_checks").exists()
    assert correct(lead_client, path, "broker", kind="procedure").status_code == 302
    proposal = Proposal.objects.get(kind="step_checks", version=version)
    assert proposal.title == "1 step can run their check (1 probe)"
    assert proposal.payload["checks"][0]["steps"][0]["scenario"] == "Broker checks"
    # Dismissed once, it is not offered again by the next correction.
    proposal.status = Proposal.Status.DISMISSED
    proposal.save()
    correct(lead_client, path, "broker", kind="procedure", severity="P2")
    assert Proposal.objects.filter(kind="step_checks").count() == 1


def test_the_runbook_page_says_how_many_sections_a_lead_corrected(lead, lead_client):
    queue_v1(lead)
    make_escalation_a_procedure(lead_client)
    response = lead_client.get("/runbooks/queue/")
    assert "1 section corrected by a lead" in response.content.decode()


# -- A file that is one unit as a whole --------------------------------------------------------

ROTATE = """---
title: Rotate the API key
---

1. Create a new key with `keyctl new`
2. Deploy it with `deploy --key new`

## Verify

- Check the logs with `journalctl -u api`

## Contacts

- Platform on-call
"""


def test_a_root_unit_heads_the_review_and_is_corrected_at_the_empty_path(lead, lead_client):
    version = import_runbook(ROTATE, filename="rotate.md", by=lead).version
    [row] = Scenario.objects.units().filter(version=version)
    assert (row.kind, row.path) == ("procedure", [])
    response = lead_client.get(f"/runbooks/{version.runbook.slug}/v/1/reading/")
    sections = response.context["sections"]
    # The labels are the reader's roles: an action part gives steps, reference sits beside.
    assert [(s.anchor_path, s.role) for s in sections] == [
        ("", "unit"),
        ("verify", "steps"),
        ("contacts", "context"),
    ]
    assert sections[0].step_count == 3
    assert "the whole document" in response.content.decode()

    # A correction without a path is refused: "" is the document, not a missing field.
    url = f"/runbooks/{version.runbook.slug}/corrections/"
    missing = lead_client.post(url, {"kind": "scenario", "title": "", "severity": ""})
    assert missing.status_code == 400 and b"Say which section" in missing.content
    assert not ReadingCorrection.objects.exists()

    response = correct(lead_client, "", slug=version.runbook.slug, kind="scenario", severity="P1")
    assert response.status_code == 302
    row.refresh_from_db()
    assert (row.kind, row.severity, row.path, row.retired_at) == ("scenario", "P1", [], None)
    version.refresh_from_db()
    assert version.tree["correction"]["read"]["kind"] == "procedure"
    # Reapplied to the next version; undoing reads it as imported again.
    v2 = import_runbook(ROTATE + "\nMore.\n", filename="rotate.md", by=lead).version
    assert (v2.tree["kind"], v2.tree["severity"]) == ("scenario", "P1")
    assert correct(lead_client, "", slug=version.runbook.slug).status_code == 302
    v2.refresh_from_db()
    assert v2.tree["kind"] == "procedure" and "correction" not in v2.tree
    assert Scenario.objects.units().get(version=v2).kind == "procedure"
