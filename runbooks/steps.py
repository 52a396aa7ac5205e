"""The checklist a responder follows for a unit (scenario or procedure) of the tree.

Steps come from every common form, in the runbook's order:

- list items (ordered, bullet, `- [ ]`) of the unit and of its parts; sub-items are sub-steps;
- a leaf sub-section with a plain name and little content (`### Verify Redis Status` over a
  command, `#### Step 2: …`, a bold `**1. Check …**` line) is one step named by its heading;
- a prose paragraph that tells what to do is one step; a code block belongs to the paragraph
  or list item just before it (the step it illustrates), else it is a step "Run:" of its own;
- a code block of commented commands (`# 1. Check …` over its command lines) or of `[ ]`
  lines is split into one step per comment or line;
- context (symptoms, meaning, impact, causes, prerequisites) and reference material
  (contacts, links, templates, comms messages, post-incident) are shown beside the checklist
  and are never steps; `TODO` placeholders and link-only items are not steps either; units and
  collections of units nested in a unit have checklists of their own.

Each step is `{text, code, group, depth, children}`: `group` is the path of the part it came
from ("Mitigation › If Redis is down"), `depth` its nesting, `children` its sub-steps. The
tree's `checklist` key holds the nested list; `checklist_steps` flattens it in document
order, which is exactly what attaching creates (one step per entry, its depth kept).
"""

from __future__ import annotations

import re

from runbooks.instructions import VERBS, is_step_line, tells_to_do
from runbooks.parser import Node

UNIT_KINDS = ("scenario", "procedure")
SKIPPED_ROLES = ("reference", "context", "group")
NUMBERED = re.compile(r"^\s*\d+(?:\.\d+)*[.)]\s")
SUB_STEP = re.compile(r"^\s*(?:\d+(?:\.\d+)+\.?\s|\*\*[^*]+\*\*\s*$)")
TODO = re.compile(r"^\W*(?:@?todo|tbd|tba|fixme|wip|coming soon)\b", re.IGNORECASE)
COMMENT = re.compile(r"^\s*(?:#(?!!)|--\s|//|::|REM\s)\s*(.*?)\s*$")
NUMBER = re.compile(r"^(?:step\s*)?\d+(?:\.\d+)*[.):]?\s+", re.IGNORECASE)
CHECKBOX_LINE = re.compile(r"^\s*(?:[-*]\s*)?(?:\[[ xX]\]|☐|☑|✅|⬜)\s+(\S.*)$")
SHELLISH = {"", "bash", "sh", "shell", "console", "zsh", "powershell", "ps1", "sql", "psql",
            "text", "txt", "python", "py", "yaml", "yml", "ruby", "rb", "javascript", "js",
            "typescript", "ts", "terminal", "cmd", "bat", "fish", "plaintext"}
LINK_ONLY = re.compile(r"\[([^\]]*)\]\([^)]*\)|<https?://[^>]+>|https?://\S+")


def checklist_steps(node: Node) -> list[dict]:
    """The steps attaching this node creates, flattened in document order: the node's
    `checklist` when the reading made it a unit, else the same rules applied to any section
    (a lead making a section a unit, a responder attaching any section)."""
    checklist = node.get("checklist")
    if not isinstance(checklist, list):
        checklist = build_checklist(node)
    return list(flatten(checklist))


def flatten(steps: list[dict]):
    for step in steps:
        yield step
        yield from flatten(step.get("children") or [])


def build_checklist(node: Node) -> list[dict]:
    """The nested checklist of a section (see the module's rules)."""
    return [step for step, _source in _Builder(node).build()]


def step_anchor(unit_anchor: str, position: int) -> str:
    """The element id of a checklist step on the runbook page: its scenario's anchor and its
    position in the checklist (StepRun.position), 1-based for people reading the URL."""
    return f"{unit_anchor}--step-{position + 1}"


def checklist_steps_with_sources(node: Node) -> list[tuple[dict, dict]]:
    """The flattened checklist steps, each with the parsed-tree object it comes from (a list
    item, a code block, a paragraph or a section): the renderer gives that object the step's
    anchor."""
    pairs: list[tuple[dict, dict]] = []

    def walk(items: list[tuple[dict, dict]]) -> None:
        for step, source in items:
            pairs.append((step, source))
            walk(step.pop("_sources", []))

    walk(_Builder(node, keep_sources=True).build())
    return pairs


def is_link_only(text: str) -> bool:
    rest = LINK_ONLY.sub("", text)
    return rest != text and len(re.findall(r"[^\W_]+", rest)) <= 2


def actionable_paragraph(text: str, introduces_code: bool = False) -> bool:
    """A paragraph is a step when it tells the reader to do something (a command, an
    imperative verb, "make sure …"; runbooks/instructions.py), not when it describes."""
    text = text.strip()
    if not text or TODO.match(text) or is_link_only(text):
        return False
    if not (len(re.findall(r"[^\W_]+", text)) >= 3 or re.search(r"[\u3400-\u9fff]", text)):
        return False
    return introduces_code or tells_to_do(text)


def split_code(block: dict) -> list[tuple[str, str]] | None:
    """(text, commands) pairs when a code block holds several commented commands or `[ ]`
    lines; None when it is one piece."""
    if block["lang"].lower() not in SHELLISH:
        return None
    lines = block["content"].split("\n")
    boxes = [m.group(1) for line in lines if (m := CHECKBOX_LINE.match(line))]
    if len(boxes) >= 2:
        return [(box, "") for box in boxes]
    pieces: list[list] = []  # [comment text, command lines]
    lead: list[str] = []
    for line in lines:
        match = COMMENT.match(line)
        if match and match.group(1) and not line.startswith((" ", "\t")):
            if pieces and not pieces[-1][1]:
                pieces[-1][0] += " " + match.group(1)
            else:
                pieces.append([match.group(1), []])
        elif pieces:
            pieces[-1][1].append(line)
        else:
            lead.append(line)
    with_commands = [p for p in pieces if any(x.strip() for x in p[1])]
    if len(with_commands) < 2:
        return None
    found: list[tuple[str, str]] = []
    if any(x.strip() for x in lead):
        found.append(("Run:", "\n".join(lead).strip("\n") + "\n"))
    for text, commands in pieces:
        body = "\n".join(commands).strip("\n")
        found.append((NUMBER.sub("", text).strip() or text, body + "\n" if body else ""))
    return found


def code_piece(block: dict, content: str) -> dict:
    return {"type": "code", "lang": block["lang"], "info": block["info"], "content": content}


class _Builder:
    def __init__(self, node: Node, keep_sources: bool = False) -> None:
        self.node = node
        self.keep = keep_sources

    def step(self, text: str, code: list[dict], group: str, depth: int) -> dict:
        return {"text": text, "code": list(code), "group": group, "depth": depth,
                "children": []}

    def build(self) -> list[tuple[dict, dict]]:
        out: list[tuple[dict, dict]] = []
        self.section(self.node, [], out, top=True)
        return out

    # -- sections -----------------------------------------------------------------------
    def skipped(self, section: Node) -> bool:
        if section["kind"] in UNIT_KINDS:
            return True
        if section.get("role") == "reference" and NUMBERED.match(section["heading"]):
            # "### 5. Post-Incident": a numbered stage of this process, followed like the rest.
            return False
        return (
            section.get("role") in SKIPPED_ROLES
            or section.get("section_type") in ("symptoms", "common_causes")
        )

    def section(self, section: Node, trail: list[str], out: list, top: bool = False) -> None:
        label = section["title"]
        if section.get("section_type") == "branch" and section.get("condition"):
            label = f"If {section['condition']}"
        path = trail if top else [*trail, label]
        group = " › ".join(path)
        # "**Impact of memory-only mode:**" over a list of facts is context; so is a heading of
        # facts ("## Health indicators": "MTTA < 5 minutes") outside any action part.
        if (
            not top and not section["children"]
            and (section["pseudo"] or not self.in_action(trail))
            and describes(section["title"], section["blocks"])
        ):
            return
        if not top and self.is_step_heading(section) and terms_only(section["blocks"]):
            return  # "## Invariants during the outage": definitions of what holds
        if not top and self.is_step_heading(section):
            self.heading_step(section, group_of(trail), out)
            return
        blocks = section["blocks"]
        if top and any(
            c.get("role") == "action" or c["pseudo"] for c in section["children"]
        ):
            # Text above the unit's phases says what it is about; the phases say what to do.
            blocks = [b for b in blocks if b["type"] != "paragraph"]
        self.blocks(blocks, group, out, terms_are_context=section.get("role") != "action")
        for child in section["children"]:
            if not self.skipped(child):
                self.section(child, path, out)

    def in_action(self, trail: list[str]) -> bool:
        """Whether the sections above (by their labels) include an action part."""
        from runbooks.units import vocab_role

        return any(vocab_role(label) == "action" for label in trail)

    def is_step_heading(self, section: Node) -> bool:
        """A leaf sub-section with a plain name (not a phase word, not an `If …` branch) is
        one step named by its heading; what it holds are its command and sub-steps."""
        if section["children"] or section.get("role") or section.get("section_type") == "branch":
            return False
        return not (section["pseudo"] and section["title"].rstrip().endswith(":"))

    def heading_step(self, section: Node, group: str, out: list) -> None:
        inner: list[tuple[dict, dict]] = []
        self.blocks(section["blocks"], group, inner)
        # The step's element on the page is a marker before the section's first block.
        anchor = next(
            (b for b in section["blocks"] if b["type"] in ("paragraph", "code", "list")), None
        )
        if anchor is None:
            return  # a heading with nothing to do under it
        step = self.step(section["title"], [], group, 0)
        if all(s["text"] == "Run:" and not s["children"] for s, _ in inner):
            step["code"] = [c for s, _ in inner for c in s["code"]]
            inner = []
        for child, _ in inner:
            deepen(child)
        step["children"] = [s for s, _ in inner]
        self.emit(out, step, anchor, inner)

    # -- blocks -------------------------------------------------------------------------
    def real(self, items: list[dict]) -> list[dict]:
        return [
            s for s in items
            if (s["text"].strip() or s["code"]) and not TODO.match(s["text"])
            and not (is_link_only(s["text"]) and not s["code"] and not s["children"])
        ]

    def item(self, item: dict, group: str, depth: int) -> tuple[dict, dict]:
        text = item["text"] or " ".join(b.get("text", "") for b in item["blocks"]).strip()
        step = self.step(text or "Run:", item["code"], group, depth)
        children = [self.item(c, group, depth + 1) for c in self.real(item["children"])]
        # "3.1 **List pending pods**" paragraphs inside an item are its sub-steps.
        for block in item["blocks"] if item["text"] else []:
            if block["type"] == "paragraph" and SUB_STEP.match(block["text"]):
                sub = self.step(block["text"].strip(), [], group, depth + 1)
                children.append((sub, block))
        step["children"] = [s for s, _ in children]
        if self.keep:
            step["_sources"] = children
        return step, item

    def emit(self, out: list, step: dict, source: dict, sources: list | None = None) -> None:
        if self.keep and sources is not None:
            step["_sources"] = sources
        out.append((step, source))

    def blocks(
        self, blocks: list[dict], group: str, out: list, terms_are_context: bool = False
    ) -> None:
        last: dict | None = None  # the step a following code block illustrates
        for index, block in enumerate(blocks):
            kind = block["type"]
            if kind == "list":
                intro = blocks[index - 1] if index else None
                if (
                    intro is not None and intro["type"] == "paragraph"
                    and intro["text"].rstrip().endswith((":", "："))
                    and describes(intro["text"], [block])
                ):
                    last = None  # "The cause could lead to:" over what happens: context
                    continue
                items = self.real(block["steps"])
                if terms_are_context and glossary(items):
                    last = None  # "**Invariant**: what always holds": terms, not tasks
                    continue
                for item in items:
                    pair = self.item(item, group, 0)
                    out.append(pair)
                # A one-item list broken by a code block is that item's command; after a
                # longer list the code is a step of its own.
                last = out[-1][0] if len(items) == 1 else None
                continue
            if kind == "code":
                pieces = split_code(block)
                if pieces:
                    for text, commands in pieces:
                        code = [code_piece(block, commands)] if commands else []
                        self.emit(out, self.step(text, code, group, 0), block, [])
                    last = None
                elif last is not None:
                    last["code"].append(block)
                else:
                    self.emit(out, self.step("Run:", [block], group, 0), block, [])
                continue
            if kind == "paragraph":
                # A paragraph just above a code block introduces its command: that step.
                introduces = index + 1 < len(blocks) and blocks[index + 1]["type"] == "code"
                if (
                    actionable_paragraph(block["text"], introduces)
                    and not context_line(block["text"])
                ):
                    step = self.step(block["text"].strip(), [], group, 0)
                    self.emit(out, step, block, [])
                    last = step
                continue
            if kind in ("quote", "callout"):
                inner = [b for b in block["blocks"] if b["type"] == "list"]
                self.blocks(inner, group, out)
                last = None
                continue
            if kind in ("table", "html"):
                last = None


def describes(label: str, blocks: list[dict]) -> bool:
    """A label that is no action ("Impact of memory-only mode", "When the compactor is
    halted:") over lists none of whose items tells the reader to act: facts, not steps."""
    from runbooks.units import vocab_role

    lists = [b for b in blocks if b["type"] == "list"]
    if not lists or any(b["type"] in ("code", "paragraph") for b in blocks):
        return False
    label = BOLD_LABEL.sub(lambda m: m.group(1), label).strip().rstrip(":：").strip()
    if vocab_role(label) == "action" or tells_to_do(label) or is_step_line(label):
        return False
    words = re.findall(r"[^\W\d_][\w'-]*", label.lower())
    if len(words) <= 8 and any(
        w in VERBS and words[i - 1] == "to" for i, w in enumerate(words) if i
    ):
        return False  # "Things to look at:", "Logs to check:": what to act on
    items = [i for b in lists for i in walk_items(b["steps"])]
    return bool(items) and not any(
        i["code"] or is_step_line(i["text"]) or tells_to_do(i["text"]) for i in items
    )


def glossary(items: list[dict]) -> bool:
    """A list of two or more `term: explanation` items, most of them definitions (the same
    test that keeps such a list from making a section a unit, runbooks/units.py)."""
    from runbooks.units import is_definition

    return len(items) >= 2 and sum(map(is_definition, items)) * 2 > len(items)


def terms_only(blocks: list[dict]) -> bool:
    """A section that holds glossary lists and nothing to run."""
    lists = [b for b in blocks if b["type"] == "list"]
    return bool(lists) and all(
        b["type"] in ("list", "rule", "html") for b in blocks
    ) and all(glossary(b["steps"]) for b in lists)


def walk_items(items: list[dict]):
    for item in items:
        yield item
        yield from walk_items(item["children"])


def deepen(step: dict) -> None:
    step["depth"] += 1
    for child in step["children"]:
        deepen(child)


BOLD_LABEL = re.compile(r"^\s*\*\*([^*]{1,40}?)\s*:?\s*\*\*\s*:?")


def context_line(text: str) -> bool:
    """`**Symptoms:** queries time out`: a labelled line of context, not a task."""
    from runbooks.units import vocab_role

    match = BOLD_LABEL.match(text)
    return bool(match) and vocab_role(match.group(1)) in ("context", "reference")


def group_of(trail: list[str]) -> str:
    return " › ".join(trail)


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
