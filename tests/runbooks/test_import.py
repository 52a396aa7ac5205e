"""Importing runbooks: versions, idempotence, refusals, and the two commands."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from incidents.management.commands.seed_demo import import_demo_runbooks
from runbooks.importer import MAX_BYTES, RunbookImportError, import_runbook
from runbooks.models import Proposal, Runbook, RunbookVersion, Scenario
from tests.runbooks.test_parser import FIXTURES, SAMPLES, SEED_FILES, needs_seeds

SAMPLE = SAMPLES / "console-sample.md"


def test_import_creates_a_version_with_scenarios_and_proposals(db, lead):
    result = import_runbook(SAMPLE.read_bytes(), filename=SAMPLE.name, by=lead)
    version = result.version
    assert result.created
    assert version.number == 1 and version.imported_by == lead
    assert version.runbook.slug == "console-sample"
    assert version.runbook.current_version == version
    assert version.runbook.title == "Sample runbook — web stack"
    scenarios = list(version.scenarios.values_list("kind", "title", "severity"))
    assert scenarios == [
        ("scenario", "PostgreSQL connections exhausted", "P0"),
        ("scenario", "Redis unavailable", "P1"),
        ("procedure", "Roll back a deploy", ""),
    ]
    first = version.scenarios.first()
    assert first.node["title"] == "PostgreSQL connections exhausted"
    assert "Count connections by state" in first.search_text
    assert "PostgreSQL connections exhausted" in first.search_text
    [template] = Proposal.objects.filter(version=version, kind="comms_template")
    assert template.payload["placeholders"] == ["[service]", "[start]", "X%"]
    assert template.status == Proposal.Status.PROPOSED


def test_same_text_makes_no_new_version_and_a_change_does(db):
    first = import_runbook(SAMPLE.read_bytes(), filename=SAMPLE.name).version
    again = import_runbook(SAMPLE.read_bytes(), filename=SAMPLE.name)
    assert not again.created and again.version == first
    changed = SAMPLE.read_text() + "\n## Notes\n\nAdded after the review.\n"
    second = import_runbook(changed.encode(), filename=SAMPLE.name)
    assert second.created and second.version.number == 2
    runbook = Runbook.objects.get()
    assert runbook.current_version == second.version
    # The first version is untouched: checklists pinned to it keep their steps.
    first.refresh_from_db()
    assert first.scenarios.count() == 3
    assert RunbookVersion.objects.count() == 2
    assert Scenario.objects.count() == 6


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"# Big\n" + b"x" * MAX_BYTES, "limited to"),
        (b"# Binary\n\x00\x01\x02", "not text"),
        ("# Latin-1 caf\u00e9\n".encode("latin-1"), "not UTF-8"),
    ],
)
def test_refused_files_store_nothing(db, data, message):
    with pytest.raises(RunbookImportError, match=message):
        import_runbook(data, filename="bad.md")
    assert not Runbook.objects.exists() and not RunbookVersion.objects.exists()


def test_front_matter_slug_names_the_runbook(db):
    version = import_runbook(
        (FIXTURES / "mkdocs_kafka.md").read_bytes(), filename="whatever.md"
    ).version
    assert version.runbook.slug == "kafka-consumers"


def test_import_runbooks_command_reads_folders_and_reports(db, tmp_path):
    (tmp_path / "a.md").write_bytes(SAMPLE.read_bytes())
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "b.markdown").write_bytes((FIXTURES / "crlf_rollback.md").read_bytes())
    (tmp_path / "README.md").write_text("# not a runbook")
    out = StringIO()
    call_command("import_runbooks", str(tmp_path), stdout=out)
    assert "a v1 (new version): 2 scenarios, 1 procedures" in out.getvalue()
    assert "b v1 (new version): 0 scenarios, 1 procedures" in out.getvalue()
    out = StringIO()
    call_command("import_runbooks", str(tmp_path), stdout=out)
    assert out.getvalue().count("(unchanged)") == 2
    (tmp_path / "bad.md").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(CommandError, match="1 file"):
        call_command("import_runbooks", str(tmp_path), stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="does not exist"):
        call_command("import_runbooks", str(tmp_path / "missing"))


def test_parse_runbook_prints_the_documented_json():
    out = StringIO()
    call_command("parse_runbook", str(SAMPLE), stdout=out)
    tree = json.loads(out.getvalue())
    assert tree["kind"] == "runbook"
    scenario = tree["children"][0]["children"][0]["children"][0]
    for key in (
        "kind",
        "title",
        "level",
        "section_type",
        "severity",
        "children",
        "steps",
        "tables",
        "templates",
        "links",
    ):
        assert key in scenario
    assert scenario["kind"] == "scenario" and scenario["severity"] == "P0"
    step = scenario["children"][1]["steps"][0]
    assert set(step) >= {"text", "code", "checklist", "children"}
    assert step["code"][0]["lang"] == "sql"


@needs_seeds
def test_demo_imports_the_seeds_when_present(db):
    lines = import_demo_runbooks(SEED_FILES[0].parent)
    assert len(lines) == len(SEED_FILES)
    assert Runbook.objects.count() == len(SEED_FILES)
    assert all("unchanged" in line for line in import_demo_runbooks(SEED_FILES[0].parent))


def test_demo_falls_back_to_the_shipped_sample(db, tmp_path):
    lines = import_demo_runbooks(seeds=tmp_path / "nowhere")
    # The scenarios the default routing rules attach ship beside the sample.
    assert lines == [
        "Runbook 'Sample runbook — alerts' v1: imported",
        "Runbook 'Sample runbook — web stack' v1: imported",
    ]
    assert Path(SAMPLE).exists()
