"""What the sections of a parsed runbook are: section types, then units (runbooks/units.py),
severities (runbooks/severity.py) and checklists (runbooks/steps.py), comms templates, and the
objects an import proposes (escalation policies, comms templates,
probes, the post-incident review checklist).

These rules read headings and the tree's structure; they never look at raw Markdown.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from runbooks.parser import Node, condition_of, is_condition, walk_steps
from runbooks.severity import assign_severities, stated
from runbooks.steps import build_checklist
from runbooks.units import find_units

# Heading words → section type; the keyword that appears first in the title wins, so
# "Investigation and Resolution" is a diagnosis phase and "Cache Stampede Recovery" a fix.
SECTION_KEYWORDS: list[tuple[str, tuple[str, ...]]] = [
    ("symptoms", ("symptom", "symptoms", "signs", "how it shows")),
    ("common_causes", ("common causes", "causes", "likely causes", "possible causes")),
    (
        "diagnosis",
        (
            "diagnosis",
            "diagnose",
            "diagnostics",
            "immediate response",
            "investigation",
            "investigate",
            "identify",
            "identification",
            "detection",
            "detect",
            "assess",
            "assessment",
            "triage",
            "checks",
        ),
    ),
    (
        "resolution",
        (
            "resolution",
            "resolve",
            "mitigation",
            "mitigate",
            "recovery",
            "recover",
            "fix",
            "fixes",
            "response actions",
            "remediation",
            "workaround",
            "solution",
        ),
    ),
    ("escalation", ("escalation", "escalate")),
    (
        "prevention",
        (
            "prevention",
            "prevent",
            "post-incident",
            "post incident",
            "postmortem",
            "post-mortem",
            "lessons learned",
            "follow-up",
        ),
    ),
    ("communication", ("communication", "communications", "comms")),
]
_KEYWORD_PATTERNS = [
    (section_type, re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, words)) + r")(?![\w-])"))
    for section_type, words in SECTION_KEYWORDS
]

PLACEHOLDER = re.compile(r"\[[^\]\n]{1,60}\]|\bX+%|\{\{\s*[\w.]+\s*\}\}|<[A-Za-z_][\w .-]{0,40}>")
URL = re.compile(r"https?://[^\s'\"<>`)]+")
DURATION = re.compile(
    r"(\d+(?:\.\d+)?)\s*\+?\s*(min|mins|minutes?|m|h|hr|hrs|hours?|d|days?)\b", re.IGNORECASE
)


def sections(node: Node) -> Iterator[Node]:
    for child in node["children"]:
        yield child
        yield from sections(child)


def section_type_of(title: str) -> str | None:
    lowered = title.lower()
    best: tuple[int, str] | None = None
    for section_type, pattern in _KEYWORD_PATTERNS:
        match = pattern.search(lowered)
        if match and (best is None or match.start() < best[0]):
            best = (match.start(), section_type)
    return best[1] if best else None


def severity_of_cell(text: str) -> str | None:
    """The level a table cell states (see runbooks.severity for the mapping)."""
    return stated(plain(text))


def plain(text: str) -> str:
    """Cell or label text without the Markdown emphasis and link syntax around words."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[*_`]", "", text).strip()


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 2}


def minutes_of(text: str) -> int | None:
    match = DURATION.search(text)
    if not match:
        return None
    number, unit = float(match.group(1)), match.group(2).lower()
    if unit.startswith("h"):
        number *= 60
    elif unit.startswith("d"):
        number *= 60 * 24
    return round(number)


# -- classification ---------------------------------------------------------------------
def classify(tree: Node) -> Node:
    for section in sections(tree):
        if section["section_type"] is None and is_condition(section["title"]):
            # "### If New Secret Causes Issues": a branch, whatever words follow the "If".
            section["section_type"] = "branch"
            section["condition"] = condition_of(section["title"])
        elif section["section_type"] is None:
            section["section_type"] = section_type_of(section["title"])
    find_units(tree)
    assign_severities(tree)
    attach_checklists(tree)
    extract_templates(tree, in_comms=False)
    tree["proposals"] = proposals(tree)
    return tree


def attach_checklists(tree: Node) -> None:
    """Every unit carries the checklist attaching it creates (see runbooks.steps)."""
    for node in [tree, *sections(tree)]:
        if node["kind"] in ("scenario", "procedure"):
            node["checklist"] = build_checklist(node)


def inside(tree: Node, kinds: set[str]) -> set[int]:
    """ids of the sections below a node of one of these kinds."""
    below: set[int] = set()

    def visit(node: Node, covered: bool) -> None:
        for child in node["children"]:
            if covered:
                below.add(id(child))
            visit(child, covered or child["kind"] in kinds)

    visit(tree, False)
    return below


COMMS_WORDS = re.compile(
    r"template|vorlage|modelo|plantilla|通信|沟通|通知|模板|テンプレート|連絡文"
)


def extract_templates(node: Node, in_comms: bool) -> None:
    in_comms = (
        in_comms
        or node.get("section_type") == "communication"
        or COMMS_WORDS.search(node["title"].lower()) is not None
    )
    if in_comms:
        for block in node["blocks"]:
            if block["type"] == "code":
                content = block["content"]
            elif block["type"] == "quote":
                content = "\n\n".join(b.get("text", "") for b in block["blocks"])
            else:
                continue
            node["templates"].append(
                {
                    "name": node["title"],
                    "content": content,
                    "placeholders": list(dict.fromkeys(PLACEHOLDER.findall(content))),
                }
            )
    for child in node["children"]:
        extract_templates(child, in_comms)


# -- proposals ---------------------------------------------------------------------------
def proposals(tree: Node) -> list[dict]:
    found: list[dict] = []
    within = inside(tree, {"scenario", "procedure"})
    for node in [tree, *sections(tree)]:
        for template in node["templates"]:
            found.append(
                {
                    "kind": "comms_template",
                    "title": template["name"],
                    "source": node["anchor"],
                    "payload": template,
                }
            )
        if node["section_type"] == "escalation":
            policy = escalation_policy(node)
            if policy["levels"]:
                found.append(
                    {
                        "kind": "escalation_policy",
                        "title": node["title"],
                        "source": node["anchor"],
                        "payload": policy,
                    }
                )
        found.extend(probe_proposals(node))
        # A post-incident list inside a scenario is that scenario's follow-up, not the team's
        # review checklist.
        if (
            node["section_type"] == "prevention"
            and node["kind"] == "section"
            and id(node) not in within
        ):
            items = [plain(step["text"]) for step in walk_steps(node["steps"]) if step["text"]]
            if items:
                found.append(
                    {
                        "kind": "review_checklist",
                        "title": node["title"],
                        "source": node["anchor"],
                        "payload": {"items": items},
                    }
                )
    return found


def escalation_policy(node: Node) -> dict:
    """Levels from a severity table, a `**Level N** (0-15 min): who` list, or L1/L2/L3
    subsections with a `**Response Time**` line."""
    levels: list[dict] = []
    for table in node["tables"]:
        header = [plain(h).lower() for h in table["header"]]
        for row in table["rows"]:
            cells = dict(zip(header, (plain(c) for c in row), strict=False))
            first = plain(row[0]) if row else ""
            time_cell = next((v for k, v in cells.items() if "time" in k), "")
            who = next(
                (
                    v
                    for k, v in cells.items()
                    if "escalat" in k or "contact" in k or "who" in k or "owner" in k
                ),
                "",
            )
            levels.append(
                {
                    "name": first,
                    "severity": severity_of_cell(first),
                    "response_minutes": minutes_of(time_cell),
                    "notify": who,
                }
            )
    for step in node["steps"]:
        text = plain(step["text"])
        name, _, who = text.partition(":")
        levels.append(
            {
                "name": re.sub(r"\s*\(.*?\)", "", name).strip(),
                "severity": None,
                "response_minutes": minutes_of(name),
                "notify": who.strip(),
            }
        )
    for child in node["children"]:
        text = " ".join(plain(b.get("text", "")) for b in child["blocks"])
        response = re.search(r"response time\s*:?\s*([^\n]+)", text, re.IGNORECASE)
        handles = re.search(r"handles\s*:?\s*(.+)", text, re.IGNORECASE)
        if response:
            levels.append(
                {
                    "name": child["title"],
                    "severity": None,
                    "response_minutes": minutes_of(response.group(1)),
                    "notify": handles.group(1).strip() if handles else "",
                }
            )
    return {"levels": levels}


def probe_proposals(node: Node) -> list[dict]:
    found = []
    title = node["title"].lower()
    for table in node["tables"]:
        header = [plain(h).lower() for h in table["header"]]
        threshold = next((i for i, h in enumerate(header) if "threshold" in h), None)
        if threshold is None:
            continue
        normal = next((i for i, h in enumerate(header) if "normal" in h), None)
        for row in table["rows"]:
            if len(row) <= threshold:
                continue
            found.append(
                {
                    "kind": "probe",
                    "title": plain(row[0]),
                    "source": node["anchor"],
                    "payload": {
                        "type": "metric_threshold",
                        "metric": plain(row[0]),
                        "normal": plain(row[normal]) if normal is not None else "",
                        "alert_threshold": plain(row[threshold]),
                    },
                }
            )
    if "health" in title or "endpoint" in title:
        for block in node["blocks"]:
            if block["type"] != "code":
                continue
            label = ""
            for line in block["content"].splitlines():
                stripped = line.strip()
                if stripped.startswith("#"):
                    label = stripped.lstrip("#").strip()
                    continue
                for url in URL.findall(stripped):
                    found.append(
                        {
                            "kind": "probe",
                            "title": label or url,
                            "source": node["anchor"],
                            "payload": {"type": "http", "url": url, "method": "GET"},
                        }
                    )
    return found
