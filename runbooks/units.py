"""Which sections of a parsed runbook a responder attaches and follows: the units.

A unit is the response to one alert or failure mode (a *scenario*) or one named task (a
*procedure*). Units are found per subtree from the shape of the content, not from a list of
heading words:

- a section's children are either **parts** of one response (phases: what it means, how to
  diagnose, how to fix; `If …` branches; alternatives "Option A"; numbered step headings;
  bold pseudo-headings) or **candidates** (sections with their own actions that are not parts);
- a section with two or more candidate children is a **group** (an alert catalogue, a chapter
  of procedures) and each candidate is looked at in turn; a section whose parts outnumber its
  candidates, or that has actions and at most one candidate, is a **unit**;
- a child whose title repeats a word of its parent's title is a sub-case of it ("Write
  Latency" under "Request Latency"), so a part;
- reference material (contents, contacts, escalation, links, glossary, changelog, templates,
  best practices, post-incident) is never a unit and never looked into; context (symptoms,
  meaning, impact, triggers, prerequisites) is part of the unit beside it, not steps.

A small vocabulary of heading words in a few languages is only a hint that tells parts from
candidates; sections without a known word are judged by their structure alone.

Every section node gets a `role`: "reference" | "context" | "action" | "group" | null.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache

from runbooks.instructions import has_command, is_step_line, tells_to_do
from runbooks.parser import SCENARIO_PREFIX, Node, walk_steps

# -- vocabulary (a hint, matched against whole titles) -------------------------------------
REFERENCE = {
    "contents", "table of contents", "toc", "index", "contacts", "contact", "emergency contacts",
    "owners", "owner", "owner contacts", "maintainers", "responsáveis", "responsables",
    "roles", "responsibilities", "roles and responsibilities", "escalation", "escalation paths",
    "escalation path", "escalation matrix", "escalation contacts", "escalation triggers",
    "when to escalate", "dashboards", "dashboard", "links", "useful links", "links úteis",
    "resources", "additional resources", "related", "related documents", "related documentation",
    "related runbooks", "references", "reference", "see also", "further reading", "glossary",
    "definitions", "terminology", "changelog", "change log", "version history",
    "revision history", "history", "templates", "template", "communication template",
    "communication templates", "post-mortem", "postmortem", "post mortem", "lessons learned",
    "best practices", "prevention", "quick reference", "appendix", "tools", "common tools",
    "communication", "communications", "comms", "notification", "notifications",
    "contributing", "using these runbooks", "structure", "severity levels",
    "incident severity levels", "severity matrix", "priority matrix", "alert priority matrix",
    "runbook maintenance", "maintenance of this runbook", "external support", "support",
    "metrics to monitor", "metrics", "monitoring", "monitoring endpoints", "health dashboard",
    "navigation", "faq", "notes", "version", "license", "licence", "authors", "owners and contacts",
    "slack channels", "channels", "referências", "referencias", "kontakte", "inhalt",
    "inhaltsverzeichnis", "weiterführende links", "glossar", "änderungen", "contatos",
    "documentação", "métricas", "métricas e consultas de referência", "monitoreo",
}
REFERENCE_CJK = (
    "目录", "目次", "联系", "連絡", "升级", "角色", "职责", "通信", "沟通", "模板", "复盘",
    "附录", "付録", "相关文档", "関連", "参考", "工具", "分级", "変更履歴", "历史", "履歴",
)
CONTEXT = {
    "symptoms", "symptom", "signs", "meaning", "impact", "summary", "description", "overview",
    "purpose", "objective", "goal", "goals", "severity", "priority", "root cause", "cause",
    "causes", "possible cause", "possible causes", "likely causes", "common causes", "reasons",
    "why", "background", "context", "introduction", "incident type", "access required",
    "access", "permissions", "prerequisites", "pre-requisites", "requirements", "pre-flight",
    "before you start", "triggers", "trigger", "trigger conditions", "conditions", "detection",
    "detection signals", "examples", "example", "invariants", "criteria",
    "acceptance criteria", "success criteria", "monitoring metric", "metric", "alert rule",
    "alert rules", "purpose of this alert", "scope", "use cases", "when to use", "when to rotate",
    "classification", "severity classification", "this playbook", "this incident type",
    "objetivo", "disparadores", "impacto", "sintomas", "síntomas", "causa", "causas",
    "descrição", "descripción", "pré-requisitos", "symptome", "ursache", "ursachen",
    "beschreibung", "voraussetzungen", "auswirkung", "zweck", "ziel",
}
CONTEXT_CJK = (
    "症状", "影响", "影響", "概述", "概要", "目的", "原因", "示例", "触发", "基準", "前提",
)
ACTION = {
    "diagnosis", "diagnose", "diagnostic", "diagnostics", "investigation", "investigate",
    "triage", "assessment", "assess", "identify", "identification", "check", "checks",
    "verify", "verification", "validate", "validation", "mitigation", "mitigate",
    "remediation", "remediate", "resolution", "resolve", "fix", "fixes", "solution",
    "solutions", "possible solution", "possible solutions", "workaround", "workarounds",
    "recovery", "recover", "containment", "contain", "eradication", "eradicate", "response",
    "respond", "actions", "action", "steps", "step", "procedure", "process", "instructions",
    "handling", "acknowledgment", "acknowledgement", "acknowledge", "what to do", "how to fix",
    "rollback", "roll back", "restore", "confirm", "test", "testing", "debug", "debugging",
    "troubleshoot", "checklist", "closure", "close",
    "procedimento", "procedimentos", "passos", "mitigação", "resolução", "recuperação",
    "verificação", "ação", "ações", "diagnóstico", "solución", "pasos", "acciones",
    "lösung", "lösungen", "behebung", "maßnahmen", "schritte", "vorgehen",
    "wiederherstellung", "prüfen", "überprüfung", "fehlerbehebung",
}
ACTION_CJK = (
    "诊断", "调查", "排查", "缓解", "解决", "恢复", "验证", "处理", "步骤", "检查", "确认",
    "关闭", "手順", "対応", "復旧", "初動", "確認", "調査", "切り分け",
)
ACTION_OR_CONTEXT = ACTION | CONTEXT
REFERENCE_OR_CONTEXT = REFERENCE | CONTEXT
FILLER = {
    "the", "a", "an", "and", "or", "of", "for", "to", "in", "on", "this", "these", "that",
    "immediate", "initial", "first", "quick", "general", "standard", "phase", "incident",
    "manual", "detailed", "further", "next", "alert", "alerts", "plan", "e", "y", "und",
    "de", "do", "da", "der", "die", "das", "von", "para", "com", "with", "after", "before",
    "if", "needed", "required", "key", "common", "possible", "recommended", "final",
}
# Words that name a way of working, not an alert or a task ("Incident Response Process").
GENERIC_PROCESS = {
    "response", "process", "procedure", "steps", "actions", "instructions", "handling",
    "workflow", "response process", "response procedure", "lifecycle", "flow",
}
# Titles that announce a collection of units (a hint; structure decides the rest).
GROUP_WORDS = re.compile(
    r"(?<![\w-])(troubleshooting|playbooks|runbooks|procedures|scenarios|alerts|workflows|"
    r"cenários|escenarios|procedimentos|fehlerbehebung|"
    r"(?:common|known|frequent|typical|häufige|frequentes|comuns|comunes)\s+(?:[\w-]+\s+)?"
    r"(?:issues|problems|failures|errors|incidents|probleme|fehler|problemas|erros)|"
    r"(?:issues|problems|probleme|problemas)\s+(?:&|and|und|e|y)\s+\w+)(?![\w-])"
    r"|常见|场景|事件处理|よくある|シナリオ",
    re.IGNORECASE,
)
ALTERNATIVE = re.compile(
    r"^\s*(?:(?:option|method|approach|alternative|variant|way|opção|método|variante|方法|方案)"
    r"\s*(?:[a-z]|\d+)|(?:scenario|case)\s*[a-z])\b",
    re.IGNORECASE,
)
PART_PREFIX = re.compile(r"^\s*(?:part|phase|stage|step|teil|parte|fase|etapa)\s*\d+\b", re.I)
TIMEBOX = re.compile(
    r"\(\s*(?:[<>~≤≥]\s*)?\d+\s*(?:[-–]\s*\d+\s*)?\+?\s*"
    r"(?:min|minutes?|mins?|h|hr|hours?|s|sec|seconds?)\b|\(\s*(?:first|within|after)\b",
    re.IGNORECASE,
)
TODO = re.compile(r"^\W*(?:@?todo|tbd|tba|fixme|wip|coming soon)\b", re.IGNORECASE)
# Words that make any title reference material, whatever else it says.
STRONG_REFERENCE = re.compile(
    r"(?<![\w-])(escalat\w*|contacts?|glossary|change ?log|sign-off|"
    r"monitoring(?: checklists?| endpoints| dashboards?| metrics)?$|"
    r"(?:communication|notification|message|status|comms|customer|incident|report|disclosure|"
    r"email|slack|update) templates?|"
    r"post-?mortem|best practices|related (?:runbooks|documents|documentation|links)|"
    r"quick reference|table of contents|kontakte|contatos|contactos)(?![\w-])"
)
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
PARENS = re.compile(r"\([^)]*\)|\[[^\]]*\]")

UNIT_KINDS = ("scenario", "procedure")
# "Same as [`OtherAlert`](#OtherAlert).": this section is another name for that unit.
SAME_AS = re.compile(
    r"^\W*(?:same as|see|identical to|like|wie|igual a|mesmo que|同上|同)\s*:?\s*"
    r"\[?`?([^`\]\n]+?)`?\]?(?:\([^)]*\))?\W*$",
    re.IGNORECASE,
)


def sections(node: Node) -> Iterator[Node]:
    for child in node["children"]:
        yield child
        yield from sections(child)


def strip_symbols(text: str) -> str:
    """Emoji, pictographs and variation selectors out; letters, digits, punctuation kept."""
    return "".join(
        ch
        for ch in text
        if unicodedata.category(ch) not in ("So", "Sk", "Cs", "Co", "Mn", "Cf")
        or ch.isalnum()
    ).strip()


TITLE_WORD = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*")


def title_words(text: str) -> list[str]:
    return TITLE_WORD.findall(text.lower())


_PATTERNS: dict[int, re.Pattern[str]] = {}


def _pattern(vocab: set[str]) -> re.Pattern[str]:
    key = id(vocab)
    if key not in _PATTERNS:
        phrases = sorted(vocab, key=len, reverse=True)
        _PATTERNS[key] = re.compile(
            r"(?<!\S)(?:" + "|".join(map(re.escape, phrases)) + r")(?!\S)"
        )
    return _PATTERNS[key]


_FILLER_OR_DIGITS = re.compile(r"\S+")


def _only(text: str, vocab: set[str]) -> bool:
    """True when the text is made of vocabulary phrases and filler words only (at least one
    phrase)."""
    text = " ".join(title_words(text.replace("&", " and ").replace("/", " and ")))
    rest, found = _pattern(vocab).subn(" ", text)
    if not found:
        return False
    return all(w in FILLER or w.isdigit() for w in rest.split())


@lru_cache(maxsize=8192)
def vocab_role(title: str) -> str | None:
    """reference | context | action, from the title's words (None when unknown)."""
    text = strip_symbols(title)
    text = re.sub(r"^\s*(?:\d+(?:\.\d+)*[.)]?|[A-Za-z][.)])\s+", "", text)
    lowered = text.lower().strip().rstrip(":：").strip()
    if re.match(r"^post[- ]?(?:incident|mortem|clone|rotation|security)", lowered):
        return "reference"
    # "Pre-flight checklist", "Pre-rotation checks": what must hold before starting.
    if re.match(r"^(?:pre[- ]\w|before\b)", lowered):
        return "context"
    if STRONG_REFERENCE.search(lowered):
        return "reference"
    bare = PARENS.sub(" ", lowered).strip() or lowered
    inner = " ".join(re.findall(r"\(([^)]*)\)", lowered))
    for candidate in (bare, inner):
        if not candidate:
            continue
        if CJK.search(candidate):
            role = _cjk_role(candidate)
            if role:
                return role
            continue
        if _only(candidate, REFERENCE):
            return "reference"
        if _only(candidate, CONTEXT):
            return "context"
        if _only(candidate, ACTION) or _only(candidate, ACTION_OR_CONTEXT):
            return "action"
        if _only(candidate, REFERENCE_OR_CONTEXT):
            return "reference"
    return None


def _cjk_role(text: str) -> str | None:
    # Short CJK titles: the role word decides ("快速处理", "事件分级", "復旧手順").
    if len(text) > 12:
        return None
    for role, words in (
        ("reference", REFERENCE_CJK),
        ("context", CONTEXT_CJK),
        ("action", ACTION_CJK),
    ):
        if any(w in text for w in words):
            return role
    return None


# -- what a section holds -----------------------------------------------------------------
def is_link_only(text: str) -> bool:
    stripped = re.sub(r"\[([^\]]*)\]\([^)]*\)|<https?://[^>]+>|https?://\S+", "", text)
    return stripped != text and len(re.findall(r"[^\W_]+", stripped)) <= 2


DEFINITION = re.compile(r"^(?:\*\*[^*]{1,40}\*\*|`[^`\s]{1,40}`|[^:.!?`*]{1,30})\s*[:–—-]\s+\S")
CONFIG_LINE = re.compile(r"^\s*(?:export\s+)?[A-Z][A-Z0-9_]*\s*=")


def is_definition(step: dict) -> bool:
    """`**Closed**: normal operation`, `stripe` - payments, `Max retries: 5`: a term (a noun
    phrase) and its meaning, not a task; so is a bare two-word question ("Anything else?").
    "Restart the worker: `systemctl restart worker`" is a step: an imperative verb phrase
    before the separator, or a command or an instruction after it (runbooks/instructions.py).
    """
    text = step["text"].strip()
    if step["code"]:
        return False
    if text.endswith("?") and len(title_words(text)) <= 2:
        return True
    return bool(DEFINITION.match(text)) and not is_step_line(text)


def is_config(block: dict) -> bool:
    """A code block that only sets variables (an env file listing), not commands to run."""
    lines = [
        line
        for line in block["content"].split("\n")
        if line.strip() and not line.lstrip().startswith("#")
    ]
    return bool(lines) and all(CONFIG_LINE.match(line) for line in lines)


def real_steps(block: dict) -> list[dict]:
    return [
        s
        for s in block["steps"]
        if s["text"].strip() and not TODO.match(s["text"]) and not is_link_only(s["text"])
    ]


def own_actions(node: Node) -> int:
    """How many things to do this section's own blocks hold (list items, code blocks,
    paragraphs of prose that are not a TODO)."""
    count = 0
    for block in node["blocks"]:
        if block["type"] == "list":
            steps = real_steps(block)
            if steps and sum(map(is_definition, steps)) * 2 <= len(steps):
                count += len(steps)
        elif block["type"] == "code":
            count += not is_config(block)
        elif block["type"] == "paragraph":
            text = block["text"].strip()
            # A line introducing what follows ("Critical variables:") is not a task itself.
            if SAME_AS.match(text):
                continue
            # Prose is a task only when it tells the reader to do something.
            if text and not TODO.match(text) and tells_to_do(text):
                count += not (
                    is_link_only(text) or text.endswith(":")
                    or (DEFINITION.match(text) and not is_step_line(text))
                )
        elif block["type"] in ("quote", "callout"):
            count += own_actions({"blocks": [b for b in block["blocks"] if b["type"] == "list"]})
    return count


def is_part(child: Node, parent: Node) -> bool:
    """A part of the parent's response rather than a unit of its own."""
    if child["pseudo"] or child["section_type"] == "branch":
        return True
    title = child["title"]
    if ALTERNATIVE.match(child["heading"]) or PART_PREFIX.match(child["heading"]):
        return True
    if TIMEBOX.search(title):
        return True
    if child["role"] in ("action", "context", "reference"):
        return True
    # A sub-case repeats its parent's name, under a parent that opens with its own text.
    if not own_actions(parent) or any(not g["pseudo"] for g in child["children"]):
        return False
    parent_words = set(split_words(parent["title"])) - GENERIC_TITLE_WORDS
    child_words = [w for w in split_words(title) if len(w) > 3 and w not in GENERIC_TITLE_WORDS]
    return any(w in parent_words for w in child_words)


# Words any runbook title may share with its sections; they say nothing about sub-cases.
GENERIC_TITLE_WORDS = {
    w for phrase in REFERENCE | CONTEXT | ACTION for w in phrase.split() if " " not in phrase
} | {"runbook", "runbooks", "playbook", "playbooks", "guide", "handbook", "incident",
     "incidents", "response", "procedures", "operations", "production", "service", "services"}


def split_words(title: str) -> list[str]:
    """Words of a title, CamelCase split ("CortexRequest Latency" → cortex request latency)."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", title)
    return [w for w in title_words(spaced) if w not in FILLER]


def names_its_items(parent: Node, child: Node) -> bool:
    """"Log lines" over "Log line containing …": a plural heading naming the kind of its
    sections is a collection of them."""
    words = title_words(parent["title"])
    child_words = set(title_words(child["title"]))
    return bool(words) and words[-1].endswith("s") and words[-1][:-1] in child_words


# -- finding units --------------------------------------------------------------------------
class Reader:
    def __init__(self, tree: Node) -> None:
        self.tree = tree
        self.memo: dict[int, int] = {}

    def actions(self, node: Node) -> int:
        """Actions in a section and below it, outside reference and context sections."""
        key = id(node)
        if key not in self.memo:
            total = own_actions(node) if node["role"] not in ("reference", "context") else 0
            for child in node["children"]:
                if child["role"] not in ("reference", "context"):
                    total += self.actions(child)
            self.memo[key] = total
        return self.memo[key]

    def is_group(self, node: Node) -> bool:
        if node["role"] in ("reference", "context"):
            return False
        candidates = [c for c in node["children"] if self.candidate(c, node)]
        if GROUP_WORDS.search(node["title"]) and node["role"] != "action" and candidates:
            return True
        parts = [
            c
            for c in node["children"]
            if not self.candidate(c, node) and c["role"] not in ("reference", "context")
            and self.actions(c)
        ]
        if len(candidates) >= 2 and len(parts) < len(candidates):
            return True
        return any(self.is_group(c) for c in candidates)

    def candidate(self, child: Node, parent: Node) -> bool:
        if parent is self.tree and self.title_heading() is child:
            return self.actions(child) > 0
        return self.actions(child) > 0 and not is_part(child, parent)

    def title_heading(self) -> Node | None:
        """The document's one top heading (its title), when it has one."""
        children = self.tree["children"]
        if len(children) == 1 and children[0]["level"] == 1:
            return children[0]
        return None

    def decide(self, node: Node) -> str:
        """"unit", "group" or "none" for a section (or the root)."""
        if node["role"] == "reference":
            return "none"
        if node is not self.tree and node["role"] == "context":
            return "none"
        if not self.actions(node):
            return "none"
        children = node["children"]
        candidates = [c for c in children if self.candidate(c, node)]
        groups = [c for c in candidates if self.is_group(c)]
        plain = [c for c in candidates if c not in groups]
        phases = [
            c for c in children if c["role"] == "action" and not self.candidate(c, node)
        ]
        collection = GROUP_WORDS.search(node["title"]) and node["role"] != "action"
        # Everything below is parts of one response (an index of runbooks with one
        # process on it is still an index).
        if not candidates:
            return "group" if collection and len(phases) == 1 else "unit"
        # A collection of units beside other sections of their own: a chapter of units.
        if groups and len(plain) + len(groups) >= 2:
            return "group"
        if phases and len(phases) >= len(plain) and (len(phases) >= 2 or not collection):
            return "unit"
        if collection:
            return "group"
        if len(plain) >= 2 or groups:
            return "group"
        # One candidate: it is the unit when it is all there is, else this section is.
        others = [
            c
            for c in children
            if c is not plain[0] and (c["role"] == "context" or self.actions(c))
        ]
        if own_actions(node) or others:
            return "unit"
        # Nothing but one section: the document's one section is its unit; any other
        # section is the unit its one sub-section belongs to.
        if node is self.tree or node is self.title_heading():
            return "group"
        if names_its_items(node, plain[0]):
            return "group"
        if any(is_part(g, plain[0]) and self.actions(g) for g in plain[0]["children"]):
            return "group"  # a complete response of its own, under a grouping heading
        return "unit"

    def find(self) -> None:
        self.visit(self.tree)

    def visit(self, node: Node, parent: Node | None = None) -> None:
        decision = self.decide(node)
        if decision == "unit":
            node["kind"] = unit_kind(node, parent)
            # Collections inside a unit (a "Troubleshooting" chapter) still hold units.
            for child in node["children"]:
                if self.candidate(child, node) and self.is_group(child) or (
                    GROUP_WORDS.search(child["title"])
                    and child["role"] not in ("reference", "context")
                    and any(self.actions(g) for g in child["children"])
                ):
                    self.visit_group(child)
            return
        if decision == "group":
            self.visit_group(node)

    def visit_group(self, node: Node) -> None:
        node["role"] = node["role"] or "group"
        for child in node["children"]:
            if child["role"] in ("reference", "context") and node is not self.tree:
                continue
            if child["role"] == "reference":
                continue
            if self.generic_process(child, node):
                continue
            self.visit(child, node)

    def generic_process(self, child: Node, node: Node) -> bool:
        """"Incident Response Process" on an index of runbooks: a section named only by
        process words (no alert, no task), holding no command, in a collection of runbooks
        is the outline every response follows, not a unit a responder attaches."""
        if not GROUP_WORDS.search(node["title"]) or child["role"] != "action":
            return False
        if not _only(child["title"], GENERIC_PROCESS):
            return False
        return not any(
            any(s["code"] or has_command(s["text"]) for s in walk_steps(section["steps"]))
            or any(b["type"] == "code" for b in section["blocks"])
            for section in [child, *sections(child)]
        )


def unit_kind(node: Node, parent: Node | None) -> str:
    """scenario when the unit names symptoms, a meaning, a trigger or a detection, when it
    sits in a collection of alerts, issues or failure scenarios, or when its name is an
    alert's (`CortexIngesterRestarts`); procedure for a named task."""
    for child in node["children"]:
        if child["section_type"] == "symptoms" or (
            child["role"] == "context" and SCENARIO_CONTEXT.search(child["title"])
        ):
            return "scenario"
    if parent is not None and SCENARIO_GROUP.search(parent["title"]):
        return "scenario"
    if SCENARIO_PREFIX.match(strip_symbols(node["heading"])):
        return "scenario"  # "### Problem: Login returns 502"
    name = PARENS.sub("", node["title"]).strip()
    if re.fullmatch(r"[A-Z][a-z0-9]+(?:[A-Z][A-Za-z0-9]*)+", name):
        return "scenario"
    return "procedure"


SCENARIO_CONTEXT = re.compile(
    r"symptom|meaning|impact|trigger|detect|alert|description|cause|sintoma|disparador|causa|"
    r"ursache|症状|原因|symptome",
    re.IGNORECASE,
)
SCENARIO_GROUP = re.compile(
    r"alerts\b|scenario|issue|problem|failure|probleme|problema|场景|事件处理|障害",
    re.IGNORECASE,
)


def assign_roles(tree: Node) -> None:
    top = tree["children"]
    for section in sections(tree):
        if len(top) == 1 and section is top[0] and section["level"] == 1:
            section["role"] = None  # the document's title, not a part of it
            continue
        role = vocab_role(section["title"])
        if role is None and GROUP_WORDS.search(section["title"]):
            role = None
        section["role"] = role
    tree["role"] = None


def find_units(tree: Node) -> None:
    assign_roles(tree)
    Reader(tree).find()
    record_aliases(tree)


def record_aliases(tree: Node) -> None:
    """A section whose whole text is "Same as X" names unit X once more: its title becomes
    one of X's `aliases` (suggestions and search find X by it); it is no unit of its own."""
    units = {u["title"].lower(): u for u in [tree, *sections(tree)] if u["kind"] in UNIT_KINDS}
    for section in sections(tree):
        if section["kind"] in UNIT_KINDS or section["children"] or len(section["blocks"]) != 1:
            continue
        block = section["blocks"][0]
        match = SAME_AS.match(block.get("text", "")) if block["type"] == "paragraph" else None
        target = units.get(match.group(1).strip().lower()) if match else None
        if target is not None:
            target.setdefault("aliases", []).append(section["title"])


def step_texts(node: Node) -> list[str]:
    return [s["text"] for s in walk_steps(node["steps"])]
