"""A runbook version's tree → what the runbook page shows (pure functions, no database).

Blocks (paragraphs, lists, code, tables, callouts…) become safe HTML here, where escaping and
sanitising can be read and tested in one place; sections become `Section` objects that the
template renders recursively (`runbooks/runbook.html#section`), so the page's structure stays in
the template. The tree format is documented in runbooks/parser.py.

Nothing the author wrote is executed: inline Markdown is rendered by markdown-it-py and then
sanitised by nh3 down to a few inline tags, and raw HTML blocks are shown as escaped text.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import nh3
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.util import ClassNotFound

from runbooks.steps import checklist_steps_with_sources, step_anchor

Node = dict[str, Any]

TYPE_LABELS = {
    "symptoms": "Symptoms",
    "diagnosis": "Diagnosis",
    "resolution": "Resolution",
    "common_causes": "Common causes",
    "escalation": "Escalation",
    "prevention": "Prevention",
    "communication": "Communication",
}
UNIT_KINDS = ("scenario", "procedure")

# What inline Markdown may produce on the page. Everything else is dropped by nh3 (script
# and style with their content); links keep only href and title.
INLINE_TAGS = {"a", "code", "strong", "em", "b", "i", "br", "del", "s", "span", "kbd", "sub", "sup"}
INLINE_ATTRIBUTES = {"a": {"href", "title"}}

_MD = MarkdownIt("commonmark", {"html": True}).enable("strikethrough")


def _image_as_link(self, tokens, idx, options, env) -> str:
    # The CSP allows no third-party images and nh3 would drop <img> with its alt text;
    # a link keeps both the words and the target.
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children or [], options, env)
    return format_html('<a href="{}">{}</a>', token.attrGet("src") or "", alt or "image")


_MD.add_render_rule("image", _image_as_link)
_FORMATTER = HtmlFormatter(cssclass="highlight")


def inline(text: str, references: dict | None = None) -> SafeString:
    """Inline Markdown (as written in the tree) → sanitised HTML."""
    if not text:
        return mark_safe("")
    env = {"references": references} if references else {}
    rendered = _MD.renderInline(text, env)
    # nh3 is the only gate between the runbook's text and the page.
    return mark_safe(
        nh3.clean(
            rendered,
            tags=INLINE_TAGS,
            attributes=INLINE_ATTRIBUTES,
            link_rel="noopener noreferrer",
        )
    )


@lru_cache(maxsize=64)
def _lexer(lang: str) -> Lexer:
    # stripnl/ensurenl off: Pygments would otherwise drop leading blank lines and add a
    # trailing newline, and the copy button must copy exactly what the runbook says.
    try:
        return get_lexer_by_name(lang, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return TextLexer(stripnl=False, ensurenl=False)


def code_block(block: dict) -> SafeString:
    """A highlighted code block with its language and a copy button (runbooks.js)."""
    lang = block.get("lang") or ""
    lexer = _lexer(lang.lower()) if lang else _lexer("text")
    highlighted = highlight(block["content"], lexer, _FORMATTER)
    return format_html(
        '<figure class="rb-code">'
        '<figcaption class="rb-code-bar"><span class="rb-code-lang">{}</span>'
        '<button type="button" class="rb-copy" data-copy aria-live="polite">Copy</button>'
        "</figcaption>{}</figure>",
        block.get("info") or lang or "text",
        # Pygments escapes the code itself (HtmlFormatter escapes & < > " ').
        mark_safe(highlighted),
    )


def highlight_css(style: str = "default") -> str:
    """The Pygments rules committed to static/css/runbooks.css (regenerate with this)."""
    return HtmlFormatter(style=style).get_style_defs(".highlight")


@dataclass
class Section:
    """A section of the tree as the page shows it."""

    id: str
    kind: str
    title: str
    heading: SafeString
    depth: int
    section_type: str | None
    severity: str | None
    condition: SafeString | None
    body: SafeString
    children: list[Section] = field(default_factory=list)

    @property
    def is_unit(self) -> bool:
        return self.kind in UNIT_KINDS

    @property
    def is_branch(self) -> bool:
        return self.section_type == "branch"

    @property
    def tag(self) -> str:
        return f"h{min(self.depth + 1, 6)}"

    @property
    def type_label(self) -> str:
        """The section type's name when the title doesn't already say it."""
        label = TYPE_LABELS.get(self.section_type or "", "")
        return "" if label.lower() == self.title.lower() else label


@dataclass
class TocEntry:
    id: str
    title: str
    kind: str
    severity: str | None
    depth: int


@dataclass
class RenderedRunbook:
    intro: SafeString
    sections: list[Section]
    toc: list[TocEntry]

    def walk(self) -> Iterable[Section]:
        stack = list(reversed(self.sections))
        while stack:
            section = stack.pop()
            yield section
            stack.extend(reversed(section.children))

    @property
    def scenario_count(self) -> int:
        return sum(1 for s in self.walk() if s.kind == "scenario")

    @property
    def procedure_count(self) -> int:
        return sum(1 for s in self.walk() if s.kind == "procedure")

    @property
    def has_branches(self) -> bool:
        return any(s.is_branch for s in self.walk())

    @property
    def severities(self) -> list[tuple[str, int]]:
        """(severity, number of scenarios and procedures) from P0 down."""
        counts: dict[str, int] = {}
        for section in self.walk():
            if section.is_unit and section.severity:
                counts[section.severity] = counts.get(section.severity, 0) + 1
        return sorted(counts.items())


class _Renderer:
    def __init__(self, tree: Node) -> None:
        # Reference-style links ([text][label]) resolve against the runbook's definitions.
        self.references = {
            ref["label"]: {"href": ref.get("href", ""), "title": ref.get("title", "")}
            for ref in tree.get("references", [])
        }
        self.ids = _assign_ids(tree)
        # Checklist steps' anchors, keyed by the tree object each step comes from (a list
        # item or a code block). A step inside a procedure nested in a scenario belongs to
        # both checklists, so it can carry more than one anchor.
        self.step_ids: dict[int, list[str]] = {}
        # Anchors of "Run:" steps: the code block they run is their element; any other step
        # taken from a code block or a paragraph (a commented command, a prose step) is a
        # marker inside it.
        self.run_anchors: set[str] = set()
        for node in [tree, *_walk(tree)]:
            if node["kind"] in UNIT_KINDS:
                unit = self.ids[id(node)]
                for position, (step, source) in enumerate(checklist_steps_with_sources(node)):
                    anchor = step_anchor(unit, position)
                    self.step_ids.setdefault(id(source), []).append(anchor)
                    if step["text"] == "Run:":
                        self.run_anchors.add(anchor)

    def inline(self, text: str) -> SafeString:
        return inline(text, self.references)

    def blocks(self, blocks: list[dict]) -> SafeString:
        # A rule closing a section is the author's separator between sections, which the
        # page already draws.
        if blocks and blocks[-1]["type"] == "rule":
            blocks = blocks[:-1]
        return mark_safe("".join(self.block(b) for b in blocks))

    def block(self, block: dict) -> str:
        kind = block["type"]
        if kind == "paragraph":
            markers = self.markers(self.step_ids.get(id(block), []))
            return format_html("<p>{}{}</p>", markers, self.inline(block["text"]))
        if kind == "list":
            markers = self.markers(self.step_ids.get(id(block), []))
            return markers + self.steps(block["steps"], block["ordered"], block.get("start"))
        if kind == "code":
            anchors = self.step_ids.get(id(block))
            runs = [a for a in anchors or [] if a in self.run_anchors]
            if runs:
                others = [a for a in anchors or [] if a != runs[0]]
                return format_html(
                    '<div class="rb-step-code" id="{}">{}{}</div>',
                    runs[0],
                    self.markers(others),
                    code_block(block),
                )
            if anchors:
                return format_html(
                    '<div class="rb-step-code">{}{}</div>', self.markers(anchors), code_block(block)
                )
            return code_block(block)
        if kind == "table":
            return self.table(block)
        if kind == "quote":
            return format_html("<blockquote>{}</blockquote>", self.blocks(block["blocks"]))
        if kind == "callout":
            callout_kind = re.sub(r"[^a-z]", "", (block.get("kind") or "note").lower())
            title = self.inline(block.get("title") or "") or (block.get("kind") or "Note").title()
            return format_html(
                '<aside class="rb-callout rb-callout-{}"><p class="rb-callout-title">{}</p>'
                "{}</aside>",
                callout_kind or "note",
                title,
                self.blocks(block["blocks"]),
            )
        if kind == "html":
            # Raw HTML in a runbook is shown, never interpreted.
            return format_html(
                '<div class="rb-html"><span class="rb-html-label">HTML</span><pre>{}</pre></div>',
                block["content"],
            )
        if kind == "heading":
            return format_html('<p class="rb-subhead">{}</p>', self.inline(block["text"]))
        if kind == "rule":
            return '<hr class="rb-rule">'
        return ""

    def steps(self, steps: list[dict], ordered: bool, start: int | None) -> SafeString:
        items = mark_safe("".join(self.step(s) for s in steps))
        if ordered:
            start_attr = format_html(' start="{}"', start) if start not in (None, 1) else ""
            return format_html('<ol class="rb-steps"{}>{}</ol>', start_attr, items)
        return format_html('<ul class="rb-steps">{}</ul>', items)

    def step(self, step: dict) -> str:
        text = self.inline(step["text"])
        if step.get("checklist") is not None:
            # A runbook's checklist, shown as it stands; ticking happens in an incident.
            text = format_html(
                '<label class="rb-task"><input type="checkbox" disabled{}> <span>{}</span></label>',
                " checked" if step["checklist"] else "",
                text,
            )
        parts = [text, self.blocks(step["blocks"])]
        parts.extend(code_block(c) for c in step["code"])
        if step["children"]:
            ordered = step["children"][0].get("number") is not None
            parts.append(self.steps(step["children"], ordered, step["children"][0].get("number")))
        css = ' class="rb-task-item"' if step.get("checklist") is not None else ""
        anchors = self.step_ids.get(id(step))
        if anchors:
            css += format_html(' id="{}"', anchors[0])
            parts.insert(0, self.extra_anchors(anchors))
        return format_html("<li{}>{}</li>", mark_safe(css), mark_safe("".join(parts)))

    @staticmethod
    def markers(anchors: list[str]) -> SafeString:
        return format_html_join(
            "", '<span class="rb-step-anchor" id="{}"></span>', ((a,) for a in anchors)
        )

    @staticmethod
    def extra_anchors(anchors: list[str]) -> SafeString:
        return format_html_join(
            "", '<span class="rb-step-anchor" id="{}"></span>', ((a,) for a in anchors[1:])
        )

    def table(self, block: dict) -> str:
        head = format_html_join("", "<th>{}</th>", ((self.inline(c),) for c in block["header"]))
        rows = format_html_join(
            "",
            "<tr>{}</tr>",
            (
                (format_html_join("", "<td>{}</td>", ((self.inline(c),) for c in row)),)
                for row in block["rows"]
            ),
        )
        return format_html(
            '<div class="rb-table-wrap"><table class="rb-table">'
            "<thead><tr>{}</tr></thead><tbody>{}</tbody></table></div>",
            head,
            rows,
        )

    def section(self, node: Node, depth: int) -> Section:
        heading = (
            escape(node["title"])
            if node.get("pseudo")
            else self.inline(node.get("heading") or node["title"])
        )
        condition = node.get("condition")
        return Section(
            id=self.ids[id(node)],
            kind=node["kind"],
            title=node["title"],
            heading=heading,
            depth=depth,
            section_type=node.get("section_type"),
            severity=node.get("severity"),
            condition=self.inline(condition) if condition else None,
            body=self.blocks(node["blocks"]),
            children=[self.section(child, depth + 1) for child in node["children"]],
        )


def _assign_ids(tree: Node) -> dict[int, str]:
    """Unique element ids from the GitHub-style anchors (duplicates get -1, -2…).

    Scenarios and procedures claim their plain anchor first: search results and suggestions
    link to `#<Scenario.anchor>`, which must land on the scenario even when an earlier,
    ordinary section has the same title.
    """
    nodes = list(_walk(tree))
    taken: set[str] = set()
    ids: dict[int, str] = {}
    if tree["kind"] in UNIT_KINDS:
        # A file that is one unit as a whole (its title in the front matter).
        ids[id(tree)] = tree.get("anchor") or "runbook"
        taken.add(ids[id(tree)])
    for node in nodes:
        anchor = node.get("anchor") or "section"
        if node["kind"] in UNIT_KINDS and anchor not in taken:
            taken.add(anchor)
            ids[id(node)] = anchor
    # The last suffix tried per anchor: a runbook repeating "Diagnosis" a thousand times
    # would otherwise retry every suffix from -1 for each one.
    last_suffix: dict[str, int] = {}
    for node in nodes:
        if id(node) in ids:
            continue
        anchor = candidate = node.get("anchor") or "section"
        suffix = last_suffix.get(anchor, 0)
        while candidate in taken:
            suffix += 1
            candidate = f"{anchor}-{suffix}"
        last_suffix[anchor] = suffix
        taken.add(candidate)
        ids[id(node)] = candidate
    return ids


def step_urls(scenario) -> Callable[[int], str]:
    """A scenario's step links: position (StepRun.position) → URL of that step on the
    runbook version's page. Uses the page's own ids, so a scenario whose anchor repeats
    an earlier scenario's still links to its own steps."""
    tree = scenario.version.tree
    node = scenario.node
    unit = _assign_ids(tree)[id(node)]
    page = scenario.version.get_absolute_url()
    if node["kind"] not in UNIT_KINDS:
        # A section attached as it stands, or a unit a correction has since undone: the page
        # gives its steps no ids, so the link lands on the section.
        return lambda position: f"{page}#{unit}"
    return lambda position: f"{page}#{step_anchor(unit, position)}"


def _walk(node: Node) -> Iterable[Node]:
    for child in node["children"]:
        yield child
        yield from _walk(child)


def _contains_units(node: Node) -> bool:
    return any(child["kind"] in UNIT_KINDS or _contains_units(child) for child in node["children"])


def title_section(tree: Node) -> Node | None:
    """The `# Title` section wrapping the whole runbook, which the page header replaces."""
    children = tree["children"]
    if len(children) == 1 and children[0]["level"] == 1 and not children[0].get("pseudo"):
        return children[0]
    return None


def render_tree(tree: Node) -> RenderedRunbook:
    renderer = _Renderer(tree)
    intro_blocks = list(tree["blocks"])
    top = tree
    wrapper = title_section(tree)
    if wrapper is not None:
        intro_blocks += wrapper["blocks"]
        top = wrapper
    sections = [renderer.section(child, 1) for child in top["children"]]
    toc: list[TocEntry] = []

    def visit(node: Node, depth: int) -> None:
        for child in node["children"]:
            toc.append(
                TocEntry(
                    id=renderer.ids[id(child)],
                    title=child["title"],
                    kind=child["kind"],
                    severity=child.get("severity"),
                    depth=depth,
                )
            )
            # Below a scenario are its Symptoms/Diagnosis/…; below a plain section only
            # what leads to a scenario or procedure is worth a line in the contents.
            if child["kind"] not in UNIT_KINDS and _contains_units(child):
                visit(child, depth + 1)

    visit(top, 1)
    return RenderedRunbook(
        intro=renderer.blocks(intro_blocks),
        sections=sections,
        toc=toc,
    )


# -- Side panel ------------------------------------------------------------------------------


def proposal_summary(kind: str, payload: dict) -> list[str]:
    """A few plain lines saying what accepting a proposal would create."""
    if kind == "escalation_policy":
        lines = []
        for level in payload.get("levels", []):
            parts = [level.get("name") or "Level"]
            if level.get("response_minutes") is not None:
                parts.append(f"{level['response_minutes']} min")
            if level.get("notify"):
                parts.append(str(level["notify"]))
            lines.append(" · ".join(parts))
        return lines or ["No levels found"]
    if kind == "comms_template":
        first = (payload.get("content") or "").strip().splitlines()[:1]
        placeholders = payload.get("placeholders") or []
        lines = [_shorten(first[0])] if first else []
        if placeholders:
            lines.append("Fields: " + ", ".join(placeholders))
        return lines
    if kind == "probe":
        if payload.get("type") == "http":
            return [f"{payload.get('method', 'GET')} {payload.get('url', '')}"]
        if payload.get("type") == "metric_threshold":
            return [
                f"{payload.get('metric', '')}: normal {payload.get('normal', '?')}, "
                f"alert {payload.get('alert_threshold', '?')}"
            ]
    if kind == "step_checks":
        lines = []
        for check in payload.get("checks", []):
            steps = len(check["steps"])
            lines.append(f"{check['label']} · {steps} step{'s' if steps != 1 else ''}")
        return lines
    if kind == "review_checklist":
        items = payload.get("items", [])
        return [f"{len(items)} items", *(_shorten(i) for i in items[:3])]
    return [_shorten(f"{key}: {value}") for key, value in list(payload.items())[:4]]


def _shorten(text: str, width: int = 90) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


# -- Diff ------------------------------------------------------------------------------------


@dataclass
class DiffLine:
    kind: str  # "hunk" | "context" | "add" | "del"
    old: int | None
    new: int | None
    text: str


HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


def diff_lines(old: str, new: str, context: int = 3) -> list[DiffLine]:
    """difflib's unified diff of two texts, as numbered lines for the page."""
    diff = difflib.unified_diff(
        old.splitlines(), new.splitlines(), "old", "new", lineterm="", n=context
    )
    lines: list[DiffLine] = []
    old_no = new_no = 0
    for index, line in enumerate(diff):
        if index < 2:  # the ---/+++ file header
            continue
        hunk = HUNK.match(line)
        if hunk:
            # A hunk of an empty side starts at 0; the next line is then number 1.
            old_no, new_no = max(int(hunk[1]), 1), max(int(hunk[2]), 1)
            lines.append(DiffLine("hunk", None, None, line))
        elif line.startswith("-"):
            lines.append(DiffLine("del", old_no, None, line[1:]))
            old_no += 1
        elif line.startswith("+"):
            lines.append(DiffLine("add", None, new_no, line[1:]))
            new_no += 1
        else:
            lines.append(DiffLine("context", old_no, new_no, line[1:]))
            old_no += 1
            new_no += 1
    return lines
