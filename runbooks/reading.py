"""The reading review: how one runbook version was read, section by section.

Every section is one of:
- a **unit** (scenario or procedure): what a responder attaches, with its checklist;
- **steps** of a unit: a section inside a unit that contributes steps to its checklist;
- **context** of a unit: a section inside a unit whose content is shown beside the checklist
  (symptoms, meaning, impact, causes), not ticked;
- a **chapter**: a section outside any unit that holds units;
- **reference**: a section outside any unit that holds none (contents, contacts, glossary,
  escalation matrix…). Responders can still search and follow it (the section search).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.safestring import SafeString

from runbooks.corrections import ROOT_PATH, UNIT_KINDS, anchor_paths, walk
from runbooks.parser import Node
from runbooks.render import _assign_ids, code_block, inline
from runbooks.steps import checklist_steps


@dataclass
class ReviewStep:
    html: SafeString
    code: list[SafeString]
    depth: int


@dataclass
class ReviewGroup:
    label: str
    steps: list[ReviewStep] = field(default_factory=list)


@dataclass
class ReviewSection:
    id: str
    anchor_path: str
    title: str
    depth: int
    kind: str
    role: str  # unit, steps, context, chapter, reference
    severity: str | None
    section_type: str | None
    step_count: int
    groups: list[ReviewGroup]
    correction: dict | None

    @property
    def is_unit(self) -> bool:
        return self.role == "unit"

    @property
    def read(self) -> dict | None:
        """What the reading said before the correction (None when not corrected)."""
        return self.correction["read"] if self.correction else None

    @property
    def role_label(self) -> str:
        if self.role == "unit":
            return self.kind
        return {
            "steps": "steps",
            "context": "context",
            "chapter": "chapter",
            "reference": "not a unit",
        }[self.role]


def _step_keys(step: dict) -> set[str]:
    keys = {step["text"]} if step.get("text") and step["text"] != "Run:" else set()
    keys |= {code["content"] for code in step.get("code", [])}
    return keys


def _own_keys(node: Node) -> set[str]:
    """The step texts and code of a section and its sub-sections, to tell which of them the
    unit's checklist drew on."""
    keys: set[str] = set()

    def steps(items: list[dict]) -> None:
        for item in items:
            keys.add(item["text"])
            keys.update(code["content"] for code in item.get("code", []))
            steps(item.get("children", []))

    def visit(section: Node) -> None:
        for block in section["blocks"]:
            if block["type"] == "list":
                steps(block["steps"])
            elif block["type"] == "code":
                keys.add(block["content"])
            elif block["type"] == "paragraph":
                keys.add(block["text"])
        for child in section["children"]:
            visit(child)

    visit(node)
    return keys


def _groups(steps: list[dict]) -> list[ReviewGroup]:
    groups: list[ReviewGroup] = []
    for step in steps:
        label = step.get("group") or ""
        if not groups or groups[-1].label != label:
            groups.append(ReviewGroup(label))
        groups[-1].steps.append(
            ReviewStep(
                html=inline(step["text"]),
                code=[code_block(block) for block in step.get("code", [])],
                depth=min(step.get("depth", 0), 3),
            )
        )
    return groups


def _review_role(node: Node, unit: Node | None, contains_unit: set[int], keys: set[str]) -> str:
    """The review's label for a section that is not a unit itself, from the reader's `role`
    (reference | context | action | group | null, runbooks/units.py)."""
    reader_role = node.get("role")
    if unit is not None:
        if reader_role in ("context", "reference"):
            return "context"  # shown beside the checklist, never ticked
        if reader_role == "group" or id(node) in contains_unit:
            return "chapter"  # a collection of units inside a unit: their own checklists
        # A part (action or unnamed): steps when the unit's checklist drew on it.
        return "steps" if _own_keys(node) & keys else "context"
    if reader_role == "group" or id(node) in contains_unit:
        return "chapter"
    return "reference"


def review_sections(tree: Node) -> list[ReviewSection]:
    ids = _assign_ids(tree)
    paths = anchor_paths(tree)
    # A file that is one unit as a whole (its title in the front matter) is a unit at the
    # root, anchor path "" (Scenario.path []): it heads the review and can be corrected.
    nodes = list(walk(tree))
    if tree["kind"] in UNIT_KINDS or "correction" in tree:
        paths[id(tree)] = ROOT_PATH
        ids.setdefault(id(tree), tree.get("anchor") or "runbook")
        nodes = [(tree, [], [])] + [(n, p, [tree, *above]) for n, p, above in nodes]
    contains_unit: set[int] = set()
    for node, _path, above in nodes:
        if node["kind"] in UNIT_KINDS:
            contains_unit.update(id(a) for a in above)
    unit_keys: dict[int, set[str]] = {}
    sections: list[ReviewSection] = []
    for node, _path, above in nodes:
        unit = next((a for a in reversed(above) if a["kind"] in UNIT_KINDS), None)
        groups: list[ReviewGroup] = []
        # What attaching it creates: the unit's nested `checklist`, flattened.
        steps = checklist_steps(node)
        if node["kind"] in UNIT_KINDS:
            role = "unit"
            groups = _groups(steps)
            unit_keys[id(node)] = set().union(*(_step_keys(s) for s in steps)) if steps else set()
        else:
            keys = unit_keys[id(unit)] if unit is not None else set()
            role = _review_role(node, unit, contains_unit, keys)
        sections.append(
            ReviewSection(
                id=ids[id(node)],
                anchor_path=paths[id(node)],
                title=node["title"],
                depth=min(len(above), 5),
                kind=node["kind"],
                role=role,
                severity=node.get("severity"),
                section_type=node.get("section_type"),
                step_count=len(steps),
                groups=groups,
                correction=node.get("correction"),
            )
        )
    return sections


def summary(sections: list[ReviewSection]) -> dict[str, int]:
    counts = {"scenario": 0, "procedure": 0, "context": 0, "reference": 0, "corrected": 0}
    for section in sections:
        if section.is_unit:
            counts[section.kind] += 1
        elif section.role in ("context", "reference"):
            counts[section.role] += 1
        if section.correction:
            counts["corrected"] += 1
    return counts
