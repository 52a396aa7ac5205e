"""The parser reads runbooks as a person does, and loses nothing doing it."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from runbooks.classify import sections
from runbooks.parser import parse_runbook, walk_steps
from runbooks.repair import repair_text
from runbooks.steps import checklist_steps
from tests.seeds import SEED_FILES, needs_seeds

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
SAMPLES = ROOT / "runbooks" / "samples"
FIXTURE_FILES = sorted(FIXTURES.glob("*.md")) + sorted(SAMPLES.glob("*.md"))

WORD = re.compile(r"[^\W_]+")
# Markdown syntax that carries words of its own but no content: list markers with their
# numbers, task-list boxes. Everything else (#, *, |, >, fences) has no word characters.
LIST_MARKER = re.compile(r"^(\s*(?:>\s*)*)(?:[-*+]|\d{1,9}[.)])(\s+\[[ xX]\])?(?=\s|$)")


def seed(prefix: str) -> Path:
    return next(p for p in SEED_FILES if p.name.startswith(prefix))


def parse(path: Path) -> dict:
    tree, _ = parse_runbook(path.read_text(encoding="utf-8"), path.stem)
    return tree


def source_words(text: str) -> Counter:
    lines = [LIST_MARKER.sub(r"\1", line) for line in repair_text(text).text.split("\n")]
    return Counter(w.lower() for w in WORD.findall("\n".join(lines)))


def tree_words(tree: dict) -> Counter:
    texts: list[str] = [tree["front_matter"]] + [u["text"] for u in tree["unparsed"]]
    for ref in tree["references"]:
        texts.extend([ref["label"], ref["href"], ref["title"]])

    def blocks(items: list[dict]) -> None:
        for block in items:
            kind = block["type"]
            if kind in ("paragraph", "heading"):
                texts.append(block["text"])
            elif kind == "code":
                texts.extend([block["info"], block["content"]])
            elif kind == "html":
                texts.append(block["content"])
            elif kind == "table":
                texts.extend(block["header"] + [cell for row in block["rows"] for cell in row])
            elif kind == "quote":
                blocks(block["blocks"])
            elif kind == "callout":
                texts.extend([block["kind"], block["title"]])
                blocks(block["blocks"])
            elif kind == "list":
                for step in walk_steps(block["steps"]):
                    texts.append(step["text"])
                    for code in step["code"]:
                        texts.extend([code["info"], code["content"]])
                    blocks(step["blocks"])

    def node(section: dict) -> None:
        texts.append(section["heading"])
        blocks(section["blocks"])
        for child in section["children"]:
            node(child)

    node(tree)
    return Counter(w.lower() for t in texts for w in WORD.findall(t))


def lost_words(path: Path) -> Counter:
    text = path.read_text(encoding="utf-8")
    tree, _ = parse_runbook(text, path.stem)
    return source_words(text) - tree_words(tree)


def attachable(tree: dict, kind: str) -> list[dict]:
    return [s for s in sections(tree) if s["kind"] == kind]


# -- nothing is lost -------------------------------------------------------------------------
@needs_seeds
@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.name[:3])
def test_seed_loses_no_word(path):
    assert lost_words(path) == Counter()


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.stem)
def test_other_styles_lose_no_word(path):
    assert lost_words(path) == Counter()


def fenced_blocks(tree: dict) -> list[dict]:
    found: list[dict] = []

    def blocks(items):
        for block in items:
            if block["type"] == "code":
                found.append(block)
            elif block["type"] in ("quote", "callout"):
                blocks(block["blocks"])
            elif block["type"] == "list":
                for step in walk_steps(block["steps"]):
                    found.extend(step["code"])
                    blocks(step["blocks"])

    def node(section):
        blocks(section["blocks"])
        for child in section["children"]:
            node(child)

    node(tree)
    return found


@needs_seeds
@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.name[:3])
def test_seed_code_is_byte_exact(path):
    source = repair_text(path.read_text(encoding="utf-8")).text
    blocks = fenced_blocks(parse(path))
    assert blocks
    fence_count = sum(1 for line in source.split("\n") if line.lstrip().startswith("```")) // 2
    assert len(blocks) == fence_count
    for block in blocks:
        # Top-level fences appear verbatim; fences inside list items are indented in the
        # source, so each of their lines must end a source line.
        if block["content"] not in source:
            source_lines = source.split("\n")
            for line in block["content"].rstrip("\n").split("\n"):
                assert any(s.endswith(line) for s in source_lines), line


def test_code_in_list_items_keeps_language_and_content():
    tree = parse(FIXTURES / "mkdocs_kafka.md")
    diagnosis = next(s for s in sections(tree) if s["title"] == "Diagnosis")
    first, second, third = diagnosis["steps"]
    assert first["number"] == 1
    assert first["code"] == [
        {
            "type": "code",
            "lang": "",
            "info": "",
            "content": "kafka-consumer-groups.sh --bootstrap-server kafka:9092 \\\n"
            "  --describe --group orders-projector\n",
        }
    ]
    assert [c["text"] for c in second["children"]] == [
        "If a single partition lags, look for a poison message",
        "If all partitions lag, the consumers are too slow",
    ]
    assert {
        "text": "docs",
        "href": "https://kafka.apache.org/documentation/#basic_ops_consumer_lag",
    } in second["links"]
    assert third["code"][0]["lang"] == "console"
    assert third["code"][0]["content"].startswith("$ kubectl logs deploy/orders-projector")


# -- structure of other styles ---------------------------------------------------------------
def test_front_matter_setext_admonitions_branches_tasks_and_references():
    tree = parse(FIXTURES / "mkdocs_kafka.md")
    assert tree["title"] == "Kafka consumer runbook"
    assert tree["metadata"]["owner"] == "data-platform"
    assert tree["references"] == [
        {
            "label": "LAG",
            "href": "https://grafana.example.internal/d/kafka-lag",
            "title": "Lag dashboard",
        }
    ]
    [book] = tree["children"]
    assert (book["title"], book["level"]) == ("Kafka Consumers", 1)
    assert book["blocks"][0]["type"] == "html"
    callout = book["blocks"][1]
    assert (callout["type"], callout["kind"], callout["title"]) == (
        "callout",
        "danger",
        "Before you start",
    )
    [alarm] = book["children"]
    assert alarm["level"] == 2 and alarm["kind"] == "scenario"
    assert [c["section_type"] for c in alarm["children"]] == ["symptoms", "diagnosis", "resolution"]
    mitigation = alarm["children"][2]
    branches = mitigation["children"]
    assert [(b["section_type"], b["condition"]) for b in branches] == [
        ("branch", "a poison message blocks a partition"),
        ("branch", "consumers are simply too slow"),
    ]
    tasks = [s for b in branches for s in b["steps"] if s["checklist"] is not None]
    assert [(t["text"], t["checklist"]) for t in tasks] == [
        ("Lag below 1k on every partition", False),
        ("Incident channel updated", True),
        ("Ticket filed for the poison message &mdash; attach the offset", False),
    ]
    table = branches[1]["tables"][0]
    assert table["header"] == ["Step", "Owner", "SLA"]
    assert table["rows"][1] == ["Decide on offset reset", "Data lead", "15 min"]


def test_numbered_headings_bold_pseudo_headings_and_severity_in_title():
    tree = parse(FIXTURES / "numbered_headings.md")
    scenarios = attachable(tree, "scenario")
    assert [(s["title"], s["severity"]) for s in scenarios] == [
        ("Elasticsearch cluster red", None),
        ("Slow queries (P2)", "P2"),
    ]
    slow = scenarios[1]
    assert [c["title"] for c in slow["children"]] == ["Symptoms", "Diagnosis", "Resolution"]
    assert all(c["pseudo"] for c in slow["children"])
    # The paragraph under a bold label on its own line stays with its section.
    assert slow["children"][0]["blocks"][0]["text"] == "p99 above 2 s on the search API."
    fix = scenarios[0]["children"][2]
    assert [s["number"] for s in fix["steps"]] == [1, 2, 3]
    assert fix["steps"][2]["code"][0]["content"] == "POST /_cluster/reroute?retry_failed=true\n"
    investigation = scenarios[0]["children"][1]
    assert investigation["blocks"][0]["lang"] == "bash"
    quote = next(s for s in sections(tree) if s["title"] == "Appendix: contacts")["blocks"][-1]
    assert quote["type"] == "quote"


def test_crlf_and_indented_code_parse_as_a_procedure():
    tree = parse(FIXTURES / "crlf_rollback.md")
    [rollback] = tree["children"]
    assert rollback["kind"] == "procedure"
    steps = rollback["steps"]
    assert [s["text"] for s in steps] == [
        "Freeze deploys in #deploys",
        "Roll back:",
        "Watch the error rate for 10 minutes",
    ]
    assert steps[1]["code"][0]["content"] == "./deploy rollback --to previous\n"


@pytest.mark.parametrize("name", ["empty.md", "front_matter_only.md"])
def test_degenerate_files_parse(name):
    tree = parse(FIXTURES / name)
    assert tree["kind"] == "runbook" and tree["children"] == []


def test_unclosed_and_odd_markdown_does_not_crash():
    text = "# T\n\n```\nnever closed\n\n- [ ]\n- **\n\n| a |\n|---|\n\n<div>\n\n1) x\n"
    tree, _ = parse_runbook(text)
    assert tree["children"][0]["title"] == "T"


# -- the seeds read as a person reads them ---------------------------------------------------
@needs_seeds
def test_seed_000_has_ten_scenarios_with_branches():
    tree = parse(seed("000"))
    scenarios = attachable(tree, "scenario")
    assert len(scenarios) == 10
    assert scenarios[0]["title"] == "Application Not Responding"
    assert scenarios[-1]["title"] == "Deployment Rollback"
    assert "Redis Connection Issues" in [s["title"] for s in scenarios]
    resolution = scenarios[0]["children"][2]
    assert resolution["section_type"] == "resolution"
    assert [b["condition"] for b in resolution["children"]] == [
        "database is down",
        "Redis is down",
        "server is overloaded",
        "application crashed",
    ]
    assert all(b["steps"] for b in resolution["children"])


@needs_seeds
def test_seed_001_scenarios_inherit_severity_from_their_group():
    tree = parse(seed("001"))
    scenarios = attachable(tree, "scenario")
    assert [s["title"] for s in scenarios][0] == "Database Connection Exhaustion"
    assert [s["title"] for s in scenarios][-1] == "Idempotency Issues"
    assert Counter(s["severity"] for s in scenarios) == {"P0": 4, "P1": 2, "P2": 2}
    assert tree["warnings"][0]["kind"] == "mojibake"
    assert "‚Üí → →" in tree["warnings"][0]["examples"]


@needs_seeds
def test_seed_002_scenarios_and_emergency_procedures():
    tree = parse(seed("002"))
    assert [s["title"] for s in attachable(tree, "scenario")] == [
        "Redirect Service Down",
        "Database Connection Issues",
        "Authentication Failures",
        "Payment Processing Failures",
        "High Memory/CPU Usage",
        "Analytics Data Inconsistencies",
    ]
    assert [s["title"] for s in attachable(tree, "procedure")] == [
        "Full Outage Response",
        "Data Recovery",
        "Emergency Rollback",
    ]


@needs_seeds
def test_seed_003_is_a_handbook_of_procedures():
    tree = parse(seed("003"))
    assert attachable(tree, "scenario") == []
    titles = [s["title"] for s in attachable(tree, "procedure")]
    # Chapters that list several named tasks ("Health Check Procedures" over Application /
    # Database / External Services Health Check) are read as those tasks.
    for expected in [
        "P0 - Critical Incident Response",
        "P1 - High Priority Incident Response",
        "Standard Deployment",
        "Emergency Deployment (Hotfix)",
        "Rollback Procedure",
        "Migration Procedure",
        "Migration Rollback",
        "Application Health Check",
        "Database Health Check",
        "High Error Rate Alert",
        "Slow Application Response",
        "Security Breach Response",
        "Suspicious Activity Response",
        "Manual Backup Creation",
        "Database Recovery",
        "Scheduled Maintenance",
        "Weekly Database Maintenance",
    ]:
        assert expected in titles
    for reference in ["Severity Levels", "Internal Team", "Escalation Matrix", "Overview"]:
        assert reference not in titles
    severities = {s["title"]: s["severity"] for s in attachable(tree, "procedure")}
    assert severities["P0 - Critical Incident Response"] == "P0"
    assert severities["P1 - High Priority Incident Response"] == "P1"


@needs_seeds
def test_seed_004_severities_come_from_the_quick_reference_table():
    tree = parse(seed("004"))
    scenarios = attachable(tree, "scenario")
    assert [(s["title"], s["severity"]) for s in scenarios] == [
        ("Service Down (503)", "P0"),
        ("High Error Rate (>1%)", "P0"),
        ("Slow Response Times (p95 > 500ms)", "P1"),
        ("Database Connection Exhaustion", "P0"),
        ("Memory Leak (High Heap Usage)", "P1"),
        ("Cross-Tenant Access Detected (Security)", "P0"),
        ("Failed Deployment", "P1"),
    ]
    assert len(attachable(tree, "procedure")) == 4
    assert tree["warnings"][0]["count"] >= 7
    assert "🔴" in tree["children"][0]["children"][0]["tables"][0]["rows"][0][2]


# -- proposals -------------------------------------------------------------------------------
def proposals_of(tree: dict, kind: str) -> list[dict]:
    return [p for p in tree["proposals"] if p["kind"] == kind]


@needs_seeds
def test_escalation_tables_become_policy_proposals():
    [policy] = proposals_of(parse(seed("001")), "escalation_policy")
    levels = policy["payload"]["levels"]
    assert [(lv["severity"], lv["response_minutes"]) for lv in levels] == [
        ("P0", 15),
        ("P1", 60),
        ("P2", 240),
        ("P3", 1440),
    ]
    assert levels[0]["notify"] == "CTO, All hands"
    [path] = proposals_of(parse(seed("002")), "escalation_policy")
    assert [lv["name"] for lv in path["payload"]["levels"]] == [
        "Level 1",
        "Level 2",
        "Level 3",
        "Level 4",
    ]
    # "(0-15 min)" is answered within 15, "(30+ min)" from 30, "(1hr+)" from 60.
    assert [lv["response_minutes"] for lv in path["payload"]["levels"]] == [15, 30, 30, 60]
    assert path["payload"]["levels"][1]["notify"] == "Platform lead + Senior engineer"
    [tiers] = proposals_of(parse(seed("004")), "escalation_policy")
    assert [(lv["name"], lv["response_minutes"]) for lv in tiers["payload"]["levels"]] == [
        ("L1: On-Call Engineer (Slack)", 15),
        ("L2: Senior Engineer (PagerDuty)", 30),
        ("L3: CTO (Phone)", 60),
    ]


@needs_seeds
def test_comms_templates_probes_and_review_checklist_are_proposed():
    tree = parse(seed("002"))
    templates = proposals_of(tree, "comms_template")
    assert [t["title"] for t in templates] == ["Status Page Update", "Customer Communication"]
    assert templates[0]["payload"]["placeholders"] == ["[service]", "[description of impact]"]
    assert "[start]" in templates[1]["payload"]["placeholders"]
    probes = proposals_of(tree, "probe")
    http = [p["payload"]["url"] for p in probes if p["payload"]["type"] == "http"]
    assert "https://app.isla.link/api/health" in http
    metrics = {p["title"]: p["payload"] for p in probes if p["payload"]["type"] != "http"}
    assert metrics["Database Connections"]["alert_threshold"] == "> 80"
    assert metrics["Payment Success Rate"]["alert_threshold"] == "< 90%"
    [checklist] = proposals_of(tree, "review_checklist")
    assert len(checklist["payload"]["items"]) == 7
    [status] = [
        p for p in proposals_of(parse(seed("001")), "comms_template") if "Status Page" in p["title"]
    ]
    assert "X%" in status["payload"]["placeholders"]
    assert status["payload"]["content"].startswith("🚨 Service Outage")


def test_lines_markdown_consumes_without_a_token_are_kept():
    # markdown-it keeps only the first definition of a label; the second would vanish.
    text = "# Links\n\nSee [the log][log].\n\n[log]: https://a.example/one\n[log]: https://b.example/two\n"
    tree, _ = parse_runbook(text)
    assert tree["references"] == [{"label": "LOG", "href": "https://a.example/one", "title": ""}]
    assert [u["text"] for u in tree["unparsed"]] == [
        "[log]: https://a.example/one",
        "[log]: https://b.example/two",
    ]


# -- titles and anchors ----------------------------------------------------------------------
def test_anchors_are_githubs_with_duplicates_suffixed_in_document_order():
    text = (
        "# 🔧 Runbook: Cache\n\n## Verify\n\n1. a\n\n## Issue 3: Cache down (P1)\n\n"
        "### Verify\n\n1. b\n\n## Verify\n\n1. c\n\n## verify 1\n\n1. d\n\n"
        "**Verify**\n\n1. e\n"
    )
    tree, _ = parse_runbook(text)
    nodes = list(sections(tree))
    assert [n["anchor"] for n in nodes] == [
        "-runbook-cache",
        "verify",
        "issue-3-cache-down-p1",
        "verify-1",
        "verify-2",
        "verify-1-1",
        "verify-3",
    ]
    assert len({n["anchor"] for n in nodes}) == len(nodes)
    assert [n["title"] for n in nodes][:3] == ["Cache", "Verify", "Cache down (P1)"]


def test_a_file_titled_in_its_front_matter_is_one_unit_with_its_checklist():
    text = (
        "---\ntitle: Zone failure recovery\n---\n\n## Why\n\nZones fail.\n\n## Checks\n\n"
        "1. Check the ring\n\n## Steps\n\n1. Scale down\n2. Delete the PVCs\n"
    )
    tree, _ = parse_runbook(text, "zone")
    assert (tree["kind"], tree["title"]) == ("procedure", "Zone failure recovery")
    assert [(s["group"], s["text"]) for s in tree["checklist"]] == [
        ("Checks", "Check the ring"),
        ("Steps", "Scale down"),
        ("Steps", "Delete the PVCs"),
    ]


def test_checklists_from_every_common_form():
    text = """# RedisDown

## Meaning

Redis does not answer; sessions drop.

## Diagnosis

### Verify Redis Status

```bash
redis-cli ping
```

### Step 2: Read the logs

```bash
# 1. Tail the server log
tail -n 100 /var/log/redis.log
# 2. Look for OOM kills
dmesg | grep -i oom
```

## Mitigation

Restart the pod with `kubectl rollout restart deploy/redis` and watch it come back.

- [ ] Tell #ops
  - with the incident link
- TODO: add the failover steps

```text
[ ] Sessions back
[ ] Error rate below 1 %
```
"""
    tree, _ = parse_runbook(text)
    [unit] = [s for s in sections(tree) if s["kind"] in ("scenario", "procedure")]
    assert (unit["title"], unit["kind"]) == ("RedisDown", "scenario")
    flat = checklist_steps(unit)
    assert [(s["group"], s["depth"], s["text"]) for s in flat] == [
        ("Diagnosis", 0, "Verify Redis Status"),
        ("Diagnosis", 0, "Read the logs"),
        ("Diagnosis", 1, "Tail the server log"),
        ("Diagnosis", 1, "Look for OOM kills"),
        (
            "Mitigation",
            0,
            "Restart the pod with `kubectl rollout restart deploy/redis` and watch it come back.",
        ),
        ("Mitigation", 0, "Tell #ops"),
        ("Mitigation", 1, "with the incident link"),
        ("Mitigation", 0, "Sessions back"),
        ("Mitigation", 0, "Error rate below 1 %"),
    ]
    assert flat[0]["code"][0]["content"] == "redis-cli ping\n"
    assert flat[3]["code"][0]["content"] == "dmesg | grep -i oom\n"
    # Meaning is context beside the checklist; any section can be followed the same way.
    diagnosis = unit["children"][1]
    assert [s["text"] for s in checklist_steps(diagnosis)][:2] == [
        "Verify Redis Status",
        "Read the logs",
    ]


# Mis-encoded pieces ftfy repairs, terminal escapes and control characters it removes, and
# the printable ASCII it leaves alone.
REPAIR_PIECES = [
    "kubectl get pods\n",
    "\t",
    " ",
    "Ã©",
    "ðŸ”´",
    "â€™",
    "Â ",
    "\x1b[31m",
    "\x00",
    "\x85",
    "\x7f",
    "\u2028",
    "é",
    "🔴",
    "\n",
]


@given(st.lists(st.sampled_from(REPAIR_PIECES), max_size=40))
@hypothesis_settings(max_examples=400, deadline=None)
def test_repair_gives_what_ftfy_gives_on_the_whole_text(pieces):
    """repair_text hands ftfy only the lines it could change (the rest is printable ASCII):
    the result must be ftfy's on the whole text."""
    import ftfy

    from runbooks.repair import FTFY_CONFIG, _ftfy_lines

    text = "".join(pieces)
    assert _ftfy_lines(text) == ftfy.fix_text(text, config=FTFY_CONFIG)
