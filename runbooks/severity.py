"""The severity a runbook states for each unit, mapped to the console's P0..P3.

Where it is read, first found wins:

1. the unit's title: a code (`P1`, `SEV-2`, `S3`) anywhere, or a level word in brackets
   (`(CRITICAL)`), at the end ("… Rate Critical", "Alertas Críticos") or before a colon;
2. the unit's own statement: a `Severity` / `Priority` part (heading, bold label or a
   `Severity: …` line) of the unit, or a table inside the unit whose rows name the alert's
   tiers (one tier only: WARNING → P2; WARNING and CRITICAL → none, the unit has several);
3. the file's quick-reference table (a Severity/Priority column), matched by link anchor or by
   the words of the incident name, stems compared, so "Payments Failing" finds "Payment
   Processing Issues";
4. the nearest heading above the unit with a code (`## Critical Incidents (P0)`), a
   statement in the text of a section above it (a file-level `**Severity:** Medium`), or the
   front matter's `severity:`.

A statement naming several different levels gives no severity.

| Stated | Severity |
|---|---|
| P0, SEV-0, SEV-1, S1, Critical, Crítica/Crítico, Blocker, Emergency, 🔴 | P0 |
| P1, SEV-2, S2, High, Major, Alta, Hoch, 🟠 | P1 |
| P2, SEV-3, S3, Medium, Moderate, Warning, Média, Mittel, 🟡 | P2 |
| P3, SEV-4, S4, Low, Minor, Info, Baixa, Niedrig, 🟢 🔵 | P3 |
"""

from __future__ import annotations

import re

from runbooks.parser import Node, walk_steps

UNIT_KINDS = ("scenario", "procedure")
P_CODE = re.compile(r"(?<![\w-])P\s?([0-4])(?![\w.])")
SEV_CODE = re.compile(r"(?<![\w-])(?:SEV|S)\s?-?([0-5])(?![\w.])", re.IGNORECASE)
LEVEL_WORDS: list[tuple[str, tuple[str, ...]]] = [
    ("P0", ("critical", "crítica", "crítico", "críticos", "críticas", "critico", "critica",
            "kritisch", "blocker", "emergency", "紧急", "致命", "🔴")),
    ("P1", ("high", "major", "alta", "alto", "hoch", "高", "🟠")),
    ("P2", ("medium", "moderate", "warning", "média", "medio", "media", "mittel", "中", "🟡")),
    ("P3", ("low", "minor", "info", "informational", "baixa", "baja", "niedrig", "低",
            "🟢", "🔵")),
]
SEVERITY_LABEL = re.compile(
    r"^\W*(?:severity|priority|severidade|prioridade|schweregrad|priorität|严重|优先级|重要度)"
    r"(?:\s+(?:level|classification))?\W*[:：]?\s*(.*)$",
    re.IGNORECASE | re.DOTALL,
)
WORD = re.compile(r"[^\W_]+(?:-[^\W_]+)*")


def sev_of_code(text: str) -> set[str]:
    found = {f"P{min(int(m.group(1)), 3)}" for m in P_CODE.finditer(text)}
    for match in SEV_CODE.finditer(text):
        n = int(match.group(1))
        found.add(f"P{max(0, min(n - 1, 3))}")
    return found


# Latin level words match whole words; CJK characters and emoji match anywhere.
_WHOLE = {name: level for level, names in LEVEL_WORDS for name in names if name.isascii()
          or (name.isalpha() and not re.search(r"[\u3400-\u9fff]", name))}
_ANYWHERE = [(name, level) for level, names in LEVEL_WORDS for name in names
             if name not in _WHOLE]


def sev_of_words(text: str) -> set[str]:
    lowered = text.lower()
    found = {_WHOLE[w] for w in WORD.findall(lowered) if w in _WHOLE}
    found.update(level for name, level in _ANYWHERE if name in lowered)
    return found


def stated(text: str) -> str | None:
    """The one level a statement names (codes first, then words); None for none or several."""
    found = sev_of_code(text) or sev_of_words(text)
    return next(iter(found)) if len(found) == 1 else None


def from_title(title: str) -> str | None:
    codes = sev_of_code(title)
    if codes:
        return next(iter(codes)) if len(codes) == 1 else None
    found: set[str] = set()
    for inner in re.findall(r"[(\[]([^)\]]*)[)\]]", title):
        found |= sev_of_words(inner) if len(WORD.findall(inner)) <= 2 else set()
    bare = re.sub(r"[(\[][^)\]]*[)\]]", " ", title)
    words = WORD.findall(bare.lower())
    if len(words) >= 2:
        found |= sev_of_words(words[-1])
    head, colon, _ = bare.partition(":")
    if colon and len(WORD.findall(head)) == 1:
        found |= sev_of_words(head)
    for emoji in ("🔴", "🟠", "🟡", "🟢", "🔵"):
        if emoji in title:
            found |= sev_of_words(emoji)
    return next(iter(found)) if len(found) == 1 else None


def plain(text: str) -> str:
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[*_`]", "", text).strip()


def section_text(node: Node) -> str:
    parts: list[str] = []
    for block in node["blocks"]:
        if block["type"] == "paragraph":
            parts.append(block["text"])
        elif block["type"] == "list":
            parts.extend(s["text"] for s in walk_steps(block["steps"]))
        elif block["type"] == "code":
            parts.append(block["content"])
    for child in node["children"]:
        parts.append(section_text(child))
    return "\n".join(parts)


def own_statement(node: Node) -> str | None:
    """`Severity: …` lines of a section's own text (paragraph lines and list items)."""
    lines: list[str] = []
    for block in node["blocks"]:
        if block["type"] == "paragraph":
            lines.extend(block["text"].split("\n"))
        elif block["type"] == "list":
            lines.extend(s["text"] for s in block["steps"])
        elif block["type"] in ("quote", "callout"):
            for inner in block["blocks"]:
                if inner["type"] == "paragraph":
                    lines.extend(inner["text"].split("\n"))
    found: set[str] = set()
    for line in lines:
        match = SEVERITY_LABEL.match(plain(line))
        if match and match.group(1).strip():
            level = stated(match.group(1))
            if level:
                found.add(level)
    return next(iter(found)) if len(found) == 1 else None


def unit_statement(unit: Node) -> str | None:
    """A Severity part of the unit, a severity line in its text, or its one alert tier."""
    for child in unit["children"]:
        if child["kind"] in UNIT_KINDS:
            continue
        if SEVERITY_LABEL.match(plain(child["title"])) and not child["children"]:
            level = stated(plain(section_text(child)))
            if level:
                return level
    for section in [unit, *_sections(unit)]:
        level = own_statement(section)
        if level:
            return level
    tiers: set[str] = set()
    for section in [unit, *_sections(unit)]:
        for block in section["blocks"]:
            if block["type"] != "table":
                continue
            for row in block["rows"]:
                if row and len(WORD.findall(plain(row[0]))) == 1:
                    tiers |= sev_of_words(plain(row[0]))
    if len(tiers) == 1:
        return next(iter(tiers))
    return None


def _sections(node: Node):
    for child in node["children"]:
        if child["kind"] in UNIT_KINDS:
            continue
        yield child
        yield from _sections(child)


def stems(text: str) -> set[str]:
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", plain(text))
    return {w[:5] for w in WORD.findall(spaced.lower()) if len(w) > 2}


def quick_reference(tree: Node) -> tuple[dict[str, str], list[tuple[set[str], str]]]:
    """Severities from tables that list issues with a Severity/Priority column."""
    by_anchor: dict[str, str] = {}
    by_name: list[tuple[set[str], str]] = []
    for node in [tree, *_all(tree)]:
        for table in node["tables"]:
            header = [plain(h).lower() for h in table["header"]]
            column = next(
                (i for i, h in enumerate(header) if "severity" in h or "priority" in h), None
            )
            if column is None or column == 0:
                continue
            for row in table["rows"]:
                if len(row) <= column:
                    continue
                level = stated(plain(row[column]))
                if not level:
                    continue
                for cell in row:
                    for match in re.finditer(r"\]\(#([^)\s]+)\)", cell):
                        by_anchor.setdefault(match.group(1), level)
                by_name.append((stems(row[0]), level))
    return by_anchor, by_name


def _all(node: Node):
    for child in node["children"]:
        yield child
        yield from _all(child)


GENERIC = {"issue", "issues", "probl", "incid", "failu", "error", "respo", "alert", "servi"}


def match_name(title: str, by_name: list[tuple[set[str], str]]) -> str | None:
    title_stems = stems(title) - GENERIC
    best: tuple[float, str] | None = None
    for name_stems, level in by_name:
        name_stems = name_stems - GENERIC
        if not name_stems or not title_stems:
            continue
        score = len(name_stems & title_stems) / min(len(name_stems), len(title_stems))
        if score >= 0.5 and (best is None or score > best[0]):
            best = (score, level)
    return best[1] if best else None


def assign_severities(tree: Node) -> None:
    by_anchor, by_name = quick_reference(tree)
    file_level = stated(tree.get("metadata", {}).get("severity", "") or "")

    def visit(node: Node, inherited: str | None) -> None:
        for child in node["children"]:
            own = from_title(child["title"]) if child.get("role") != "reference" else None
            if child["kind"] in UNIT_KINDS:
                child["severity"] = (
                    own
                    or unit_statement(child)
                    or by_anchor.get(child["anchor"])
                    or match_name(child["title"], by_name)
                    or inherited
                )
                below = child["severity"]
            else:
                child["severity"] = own
                below = own or (
                    own_statement(child)
                    if child.get("role") not in ("reference", "context")
                    else None
                )
                below = below or inherited
            visit(child, below)

    start = file_level or own_statement(tree)
    if tree["kind"] in UNIT_KINDS:
        tree["severity"] = unit_statement(tree) or start
    visit(tree, start)
