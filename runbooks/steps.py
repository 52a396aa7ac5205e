"""The checklist a responder follows for a scenario or procedure node of the tree.

Symptoms and common causes are what the responder recognises, not things to do, so they are
left out; every other section contributes its list items (sub-items as deeper steps) and its
stand-alone code blocks (a step "Run:" with the commands), labelled with the section path.
"""

from __future__ import annotations

from runbooks.parser import Node

NOT_TO_DO = {"symptoms", "common_causes"}


def checklist_steps(node: Node) -> list[dict]:
    return [step for step, _source in checklist_steps_with_sources(node)]


def step_anchor(unit_anchor: str, position: int) -> str:
    """The element id of a checklist step on the runbook page: its scenario's anchor and its
    position in the checklist (StepRun.position), 1-based for people reading the URL."""
    return f"{unit_anchor}--step-{position + 1}"


def checklist_steps_with_sources(node: Node) -> list[tuple[dict, dict]]:
    """The checklist steps, each with the parsed-tree object it comes from (a list item, or
    a stand-alone code block): the renderer gives that object the step's anchor."""
    steps: list[tuple[dict, dict]] = []

    def add_blocks(blocks: list[dict], group: str) -> None:
        for block in blocks:
            if block["type"] == "list":
                for step in block["steps"]:
                    add_step(step, group, 0)
            elif block["type"] == "code":
                steps.append(({"group": group, "depth": 0, "text": "Run:", "code": [block]}, block))

    def add_step(step: dict, group: str, depth: int) -> None:
        text = step["text"] or " ".join(b.get("text", "") for b in step["blocks"]).strip()
        steps.append(
            (
                {
                    "group": group,
                    "depth": depth,
                    "text": text or "Run:",
                    "code": step["code"],
                },
                step,
            )
        )
        for child in step["children"]:
            add_step(child, group, depth + 1)

    def visit(section: Node, trail: list[str]) -> None:
        if section["section_type"] in NOT_TO_DO:
            return
        label = section["title"]
        if section["section_type"] == "branch":
            label = f"If {section['condition']}"
        group = " › ".join([*trail, label]) if trail or section is not node else ""
        add_blocks(section["blocks"], group)
        for child in section["children"]:
            visit(child, [*trail, label] if section is not node else [])

    visit(node, [])
    return steps


def search_text(node: Node) -> str:
    """Plain words a responder would search for: title, symptoms, step text."""
    parts = [node["title"]]

    def visit(section: Node) -> None:
        parts.append(section["title"])
        for block in section["blocks"]:
            if block["type"] == "paragraph":
                parts.append(block["text"])
        for step in section["steps"]:
            parts.extend(_step_texts(step))
        for child in section["children"]:
            visit(child)

    visit(node)
    return "\n".join(p for p in parts if p)


def _step_texts(step: dict) -> list[str]:
    texts = [step["text"]]
    for child in step["children"]:
        texts.extend(_step_texts(child))
    return texts
