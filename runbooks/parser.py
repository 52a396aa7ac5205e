"""Markdown runbook → tree, from markdown-it-py's token stream (never regexes over Markdown).

The tree is a public interface (README, `parse_runbook`): nodes are the runbook and its
sections; sections come from ATX/setext headings and from bold pseudo-headings standing alone
at the start of a paragraph (`**Symptoms**:`). Text is kept as the inline Markdown source
the author wrote, so nothing is lost and the page can render it faithfully; code is kept
byte-exact with its info string.

Node (runbook or section):
    kind          "runbook" | "section" | "scenario" | "procedure"
    title         plain heading text; numbering ("1.", "Issue 3:"), page-kind prefixes
                  ("Runbook:"), emoji and trailing colons removed
    heading       the heading's inline source as written
    level         0 for the runbook, heading level for sections (pseudo-headings: parent + 1)
    pseudo        true for a bold pseudo-heading
    anchor        GitHub's anchor of the heading, unique in the file (duplicates -1, -2…)
    role          reference | context | action | group | null (see units.py)
    checklist     on scenario/procedure nodes: the nested steps attaching creates
                  ({text, code, group, depth, children}; see steps.py)
    section_type  symptoms | diagnosis | resolution | common_causes | escalation | prevention |
                  communication | branch | null (see classify.py)
    severity      see severity.py
    condition     for branches: the condition after "If"
    severity      "P0".."P3" or null
    blocks        the content in order: paragraph, list, code, table, quote, callout, html,
                  heading (inside a container), rule
    steps         the list items of this node's own blocks (derived from blocks)
    tables        the tables of this node's own blocks
    templates     comms templates found here: {name, content, placeholders}
    links         {text, href} of this node's own blocks
    children      sub-sections
Step: {text, number, checklist (null | true | false), code: [{lang, info, content}],
       blocks, children}
"""

from __future__ import annotations

import gc
import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.admon import admon_plugin
from mdit_py_plugins.front_matter import front_matter_plugin
from mdit_py_plugins.tasklists import tasklists_plugin

from runbooks.repair import Repair, repair_text

Node = dict[str, Any]

NUMBERING = re.compile(
    r"^\s*(?:(?:issue|procedure|step|scenario|case|incident|runbook|场景|シナリオ|問題)\s*)?"
    r"\d+(?:\.\d+)*[.):：]\s*(?=\S)",
    re.IGNORECASE,
)
# "Runbook: Helm rollback", "Alert: Hot CPU", "Runbook – Alertas Críticos": the kind of page,
# not its name.
KIND_PREFIX = re.compile(
    r"^\s*(?:runbook|alert(?:\s+name)?|playbook|procedure|procedimento|procedimiento|sop)"
    r"\s*(?::|[-–—]\s)\s*(?=\S)",
    re.IGNORECASE,
)
# "Problem: Login returns 502", "Issue – Slow uploads": a FAQ's label for a failure mode; the
# name is what follows (units.py reads such a section as a scenario).
SCENARIO_PREFIX = re.compile(
    r"^\s*(?:problem|issue|symptom|error|failure|scenario|case|problema|sintoma|erro|fehler|"
    r"störung|problème|panne|问题|故障|現象|障害)\s*(?::|：|[-–—]\s)\s*(?=\S)",
    re.IGNORECASE,
)
PSEUDO_HEADING_MAX = 120


def markdown() -> MarkdownIt:
    return (
        MarkdownIt("commonmark", {"html": True})
        .enable("table")
        .use(front_matter_plugin)
        .use(tasklists_plugin)
        .use(admon_plugin)
    )


_MD = markdown()


def slugify(text: str) -> str:
    """GitHub's heading anchors (github-slugger): lower case; letters, digits, marks, `-`
    and `_` kept, everything else (punctuation, emoji) dropped; each space a hyphen. The
    text is not trimmed after dropping, so "🔧 Fix" is `-fix` as on GitHub."""
    text = text.lower().strip()
    kept = "".join(
        ch for ch in text if ch.isalnum() or ch in " -_" or unicodedata.category(ch)[0] == "M"
    )
    return kept.replace(" ", "-")


class Slugger:
    """Unique anchors in document order, as GitHub makes them: the second "Verify" is
    `verify-1`, the third `verify-2` (and a heading literally named "verify 1" moves on)."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def __call__(self, text: str) -> str:
        base = slug = slugify(text)
        while slug in self.seen:
            self.seen[base] += 1
            slug = f"{base}-{self.seen[base]}"
        self.seen[slug] = 0
        return slug


def clean_title(title: str) -> str:
    """The name a person reads: numbering ("1.", "Issue 3:", "场景1:"), page-kind prefixes
    ("Runbook:", "Alert:"), emoji and trailing colons dropped."""
    text = "".join(
        ch
        for ch in title
        if ch.isalnum() or unicodedata.category(ch) not in ("So", "Sk", "Cf", "Mn", "Co")
    )
    text = re.sub(r"\s+", " ", text).strip()
    for _ in range(2):
        text = NUMBERING.sub("", text, count=1)
        text = KIND_PREFIX.sub("", text, count=1)
        text = SCENARIO_PREFIX.sub("", text, count=1)
    text = text.strip().rstrip(":：").strip()
    return text or title.strip()


def plain_inline(token: Token) -> str:
    """The readable text of an inline token: Markdown syntax dropped, code spans kept."""
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline", "html_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return "".join(parts).strip()


def links_of(token: Token) -> list[dict[str, str]]:
    links: list[dict[str, str]] = []
    children = token.children or []
    for index, child in enumerate(children):
        if child.type == "link_open":
            text = []
            for inner in children[index + 1 :]:
                if inner.type == "link_close":
                    break
                if inner.type in ("text", "code_inline"):
                    text.append(inner.content)
            links.append({"text": "".join(text), "href": str(child.attrGet("href") or "")})
        elif child.type == "image":
            links.append({"text": child.content, "href": str(child.attrGet("src") or "")})
    return links


def new_section(heading: str, title: str, level: int, pseudo: bool, line: int | None) -> Node:
    return {
        "kind": "section",
        "title": clean_title(title),
        "heading": heading,
        "level": level,
        "pseudo": pseudo,
        "anchor": title,  # made a unique GitHub anchor once the tree is complete
        "section_type": None,
        "condition": None,
        "severity": None,
        "line": line,
        "blocks": [],
        "steps": [],
        "tables": [],
        "templates": [],
        "links": [],
        "children": [],
    }


class TreeBuilder:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0

    # -- blocks -----------------------------------------------------------------------
    def block(self) -> dict | None:
        """Parse the block starting at self.pos and advance past it."""
        token = self.tokens[self.pos]
        kind = token.type
        if kind == "paragraph_open":
            inline = self.tokens[self.pos + 1]
            self.pos += 3
            return {"type": "paragraph", "text": inline.content, "links": links_of(inline)}
        if kind in ("fence", "code_block"):
            self.pos += 1
            return code_of(token)
        if kind in ("bullet_list_open", "ordered_list_open"):
            return self.list_block()
        if kind == "table_open":
            return self.table()
        if kind == "blockquote_open":
            self.pos += 1
            return {"type": "quote", "blocks": self.blocks_until("blockquote_close")}
        if kind == "admonition_open":
            self.pos += 1
            title = ""
            if self.tokens[self.pos].type == "admonition_title_open":
                title = self.tokens[self.pos + 1].content
                self.pos += 3
            return {
                "type": "callout",
                "kind": token.meta.get("tag", ""),
                "title": title,
                "blocks": self.blocks_until("admonition_close"),
            }
        if kind == "html_block":
            self.pos += 1
            return {"type": "html", "content": token.content}
        if kind == "heading_open":
            inline = self.tokens[self.pos + 1]
            self.pos += 3
            return {"type": "heading", "level": int(token.tag[1]), "text": inline.content}
        if kind == "hr":
            self.pos += 1
            return {"type": "rule"}
        # Anything a plugin adds that we don't model: keep its text rather than drop it.
        self.pos += 1
        if token.content:
            return {"type": "html", "content": token.content}
        return None

    def blocks_until(self, closing: str) -> list[dict]:
        blocks: list[dict] = []
        while self.tokens[self.pos].type != closing:
            block = self.block()
            if block is not None:
                blocks.append(block)
        self.pos += 1
        return blocks

    def list_block(self) -> dict:
        opening = self.tokens[self.pos]
        ordered = opening.type == "ordered_list_open"
        closing = "ordered_list_close" if ordered else "bullet_list_close"
        start = int(opening.attrGet("start") or 1) if ordered else None
        self.pos += 1
        steps = []
        number = start
        while self.tokens[self.pos].type != closing:
            item = self.tokens[self.pos]
            self.pos += 1
            steps.append(self.step(item, number))
            if number is not None:
                number += 1
        self.pos += 1
        return {"type": "list", "ordered": ordered, "start": start, "steps": steps}

    def step(self, item: Token, number: int | None) -> dict:
        checklist = None
        if "task-list-item" in str(item.attrGet("class") or ""):
            checklist = self._task_checked()
        blocks = self.blocks_until("list_item_close")
        step = {
            "text": "",
            "number": number,
            "checklist": checklist,
            "code": [],
            "blocks": [],
            "children": [],
            "links": [],
        }
        for index, block in enumerate(blocks):
            if index == 0 and block["type"] == "paragraph":
                # tasklists removes the "[ ]" box but leaves the space after it.
                text = block["text"]
                step["text"] = text.lstrip() if checklist is not None else text
                step["links"] = block["links"]
            elif block["type"] == "code":
                step["code"].append(block)
            elif block["type"] == "list":
                step["children"].extend(block["steps"])
            else:
                step["blocks"].append(block)
        return step

    def _task_checked(self) -> bool:
        # tasklists puts an <input> as the first child of the item's first inline token.
        for token in self.tokens[self.pos : self.pos + 3]:
            if token.type == "inline" and token.children:
                first = token.children[0]
                return first.type == "html_inline" and "checked" in first.content
        return False

    def table(self) -> dict:
        header: list[str] = []
        rows: list[list[str]] = []
        current: list[str] | None = None
        in_head = False
        links: list[dict] = []
        while self.tokens[self.pos].type != "table_close":
            token = self.tokens[self.pos]
            if token.type == "thead_open":
                in_head = True
            elif token.type == "thead_close":
                in_head = False
            elif token.type == "tr_open":
                current = []
            elif token.type == "tr_close" and current is not None:
                if in_head:
                    header = current
                else:
                    rows.append(current)
            elif token.type == "inline" and current is not None:
                current.append(token.content)
                links.extend(links_of(token))
            self.pos += 1
        self.pos += 1
        return {"type": "table", "header": header, "rows": rows, "links": links}


def code_of(token: Token) -> dict:
    info = token.info.strip() if token.type == "fence" else ""
    return {
        "type": "code",
        "lang": info.split()[0] if info else "",
        "info": info,
        "content": token.content,
    }


def pseudo_heading(inline: Token) -> tuple[str, str] | None:
    """(label, rest of the paragraph) when the paragraph opens with a bold label alone on its
    first line: `**Symptoms**:`, `**Diagnosis:**`, `**If database is down**:`."""
    # markdown-it brackets emphasis with empty text tokens; they carry nothing.
    children = [c for c in inline.children or [] if not (c.type == "text" and not c.content)]
    if len(children) < 3 or children[0].type != "strong_open":
        return None
    try:
        close = next(i for i, c in enumerate(children) if c.type == "strong_close")
    except StopIteration:
        return None
    inner = children[1:close]
    if any(c.type not in ("text", "code_inline") for c in inner):
        return None
    label = "".join(c.content for c in inner).strip()
    after = children[close + 1 :]
    # Allowed after the bold: nothing, or a lone colon, then the end of the line.
    if after and after[0].type == "text":
        if after[0].content.strip() not in ("", ":"):
            return None
        after = after[1:]
    if after and after[0].type not in ("softbreak", "hardbreak"):
        return None
    if not label or len(label) > PSEUDO_HEADING_MAX:
        return None
    first_line, _, rest = inline.content.partition("\n")
    return label.rstrip(":").strip(), rest


def own_steps(blocks: list[dict]) -> list[dict]:
    return [step for block in blocks if block["type"] == "list" for step in block["steps"]]


def finish(node: Node) -> None:
    """Fill the derived views (steps, tables, links) of a node and its children."""
    node["steps"] = own_steps(node["blocks"])
    node["tables"] = [b for b in node["blocks"] if b["type"] == "table"]
    links: list[dict] = []

    def collect(blocks: list[dict]) -> None:
        for block in blocks:
            links.extend(block.get("links", []))
            if block["type"] == "list":
                for step in walk_steps(block["steps"]):
                    links.extend(step["links"])
                    collect(step["blocks"])
            elif block["type"] in ("quote", "callout"):
                collect(block["blocks"])

    collect(node["blocks"])
    node["links"] = links
    for child in node["children"]:
        finish(child)


def walk_steps(steps: list[dict]):
    for step in steps:
        yield step
        yield from walk_steps(step["children"])


def parse_markdown(text: str, name: str = "") -> Node:
    """Parse already-repaired Markdown into the tree (no classification)."""
    env: dict = {}
    tokens = _MD.parse(text, env)
    root: Node = {
        "kind": "runbook",
        "title": name,
        "heading": "",
        "level": 0,
        "pseudo": False,
        "anchor": name,
        "section_type": None,
        "condition": None,
        "severity": None,
        "line": 0,
        "metadata": {},
        "front_matter": "",
        # Link reference definitions produce no token; kept here so no target is lost.
        "references": [
            {"label": label, "href": ref.get("href", ""), "title": ref.get("title", "")}
            for label, ref in env.get("references", {}).items()
        ],
        "blocks": [],
        "steps": [],
        "tables": [],
        "templates": [],
        "links": [],
        "children": [],
        "unparsed": uncovered_lines(text, tokens),
    }
    stack: list[Node] = [root]
    builder = TreeBuilder(tokens)
    while builder.pos < len(tokens):
        token = tokens[builder.pos]
        if token.type == "front_matter":
            root["front_matter"] = token.content
            root["metadata"] = front_matter_fields(token.content)
            builder.pos += 1
            continue
        if token.type == "heading_open":
            level = int(token.tag[1])
            inline = tokens[builder.pos + 1]
            builder.pos += 3
            while len(stack) > 1 and stack[-1]["level"] >= level:
                stack.pop()
            section = new_section(
                inline.content,
                plain_inline(inline),
                level,
                False,
                token.map[0] + 1 if token.map else None,
            )
            stack[-1]["children"].append(section)
            stack.append(section)
            continue
        if token.type == "paragraph_open":
            inline = tokens[builder.pos + 1]
            found = pseudo_heading(inline)
            if found is not None:
                label, rest = found
                builder.pos += 3
                is_branch = is_condition(label)
                # A branch nests under the pseudo-section it follows (Resolution → If …);
                # any other pseudo-heading closes the previous pseudo-sections.
                while (
                    len(stack) > 1
                    and stack[-1]["pseudo"]
                    and (not is_branch or stack[-1]["section_type"] == "branch")
                ):
                    stack.pop()
                parent = stack[-1]
                section = new_section(
                    inline.content.partition("\n")[0],
                    label,
                    parent["level"] + 1,
                    True,
                    token.map[0] + 1 if token.map else None,
                )
                if is_branch:
                    section["section_type"] = "branch"
                    section["condition"] = condition_of(label)
                parent["children"].append(section)
                stack.append(section)
                if rest.strip():
                    section["blocks"].append({"type": "paragraph", "text": rest, "links": []})
                continue
        block = builder.block()
        if block is not None:
            stack[-1]["blocks"].append(block)

    assign_anchors(root)
    if not root["title"] or root["title"] == name:
        title = root["metadata"].get("title")
        if title:
            root["title"] = title
        elif len(root["children"]) == 1 and root["children"][0]["level"] == 1:
            root["title"] = root["children"][0]["title"]
    finish(root)
    return root


def assign_anchors(root: Node) -> None:
    """Headings get GitHub's anchors in document order; bold pseudo-headings (which have no
    anchor on GitHub) and the runbook itself get unique ones after them."""
    slug = Slugger()
    nodes: list[Node] = []

    def walk(node: Node) -> None:
        for child in node["children"]:
            nodes.append(child)
            walk(child)

    walk(root)
    for node in nodes:
        if not node["pseudo"]:
            node["anchor"] = slug(node["anchor"])
    for node in nodes:
        if node["pseudo"]:
            node["anchor"] = slug(node["anchor"])
    root["anchor"] = slug(root["anchor"]) if root["anchor"] else ""


# Tokens whose map covers the source lines they carry; any other line with words on it was
# consumed without a token (a duplicate link reference definition, say) and is kept as is.
LEAF_TOKENS = {
    "paragraph_open",
    "heading_open",
    "fence",
    "code_block",
    "html_block",
    "hr",
    "table_open",
    "front_matter",
    "admonition_title_open",
}


def uncovered_lines(text: str, tokens: list[Token]) -> list[dict]:
    covered: set[int] = set()
    for token in tokens:
        if token.map and (token.type in LEAF_TOKENS or token.type == "admonition_open"):
            start, end = token.map
            covered.update(range(start, end if token.type != "admonition_open" else start + 1))
    return [
        {"line": number + 1, "text": line}
        for number, line in enumerate(text.split("\n"))
        if number not in covered and any(ch.isalnum() for ch in line)
    ]


CONDITION_WORDS = ("if ", "when ", "in case ", "unless ")


def is_condition(label: str) -> bool:
    return label.lower().startswith(CONDITION_WORDS)


def condition_of(label: str) -> str:
    lowered = label.lower()
    for word in CONDITION_WORDS:
        if lowered.startswith(word):
            return label[len(word) :].strip()
    return label


def front_matter_fields(raw: str) -> dict[str, str]:
    """Top-level `key: value` pairs of YAML front matter (the raw text is kept too)."""
    fields: dict[str, str] = {}
    for line in raw.splitlines():
        if not line or line[0] in " \t#-":
            continue
        key, sep, value = line.partition(":")
        if sep and key.strip():
            fields[key.strip()] = value.strip().strip("\"'")
    return fields


def parse_runbook(source: str, name: str = "") -> tuple[Node, list[dict]]:
    """Repair, parse and classify a runbook. Returns (tree, warnings)."""
    return build_tree(repair_text(source), name)


@contextmanager
def paused_gc() -> Iterator[None]:
    """Parsing allocates hundreds of thousands of tokens and dicts without reference cycles;
    the cyclic collector rescanning that growing heap made a 1 MB runbook take 70 % longer
    than linear (bench/runbooks.py). Refcounting frees them all the same."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def build_tree(repaired: Repair, name: str = "") -> tuple[Node, list[dict]]:
    from runbooks.classify import classify

    with paused_gc():
        tree = parse_markdown(repaired.text, name)
        classify(tree)
    warnings = [w for w in [repaired.warning] if w]
    tree["warnings"] = warnings
    return tree, warnings
