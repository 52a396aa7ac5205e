"""Mojibake repair, before parsing.

Runbooks pasted through the wrong encoding arrive as `ðŸ”´` (UTF-8 read as Windows-1252)
or `‚Üí` (UTF-8 read as MacRoman). ftfy repairs the first kind but mangles the second, so
MacRoman runs are repaired first, each one only if it decodes to valid UTF-8.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import ftfy

NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")
# Keep the author's typography: only encoding damage is repaired.
FTFY_CONFIG = ftfy.TextFixerConfig(
    unescape_html=False,
    uncurl_quotes=False,
    fix_latin_ligatures=False,
    fix_character_width=False,
    fix_line_breaks=True,
    normalization=None,
    explain=False,
)


@dataclass
class Repair:
    text: str
    fixes: list[tuple[str, str]] = field(default_factory=list)

    @property
    def warning(self) -> dict | None:
        if not self.fixes:
            return None
        examples = sorted({f"{bad} → {good}" for bad, good in self.fixes})[:5]
        return {
            "kind": "mojibake",
            "message": f"Repaired {len(self.fixes)} mis-encoded character sequences",
            "count": len(self.fixes),
            "examples": examples,
        }


def _macroman(run: str) -> str | None:
    try:
        fixed = run.encode("mac_roman").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return None
    return fixed if fixed != run else None


# What ftfy (with FTFY_CONFIG) can change: anything but printable ASCII, tab and newline
# (its ASCII fixers remove terminal escapes and control characters).
SUSPECT = re.compile(r"[^\t\n\x20-\x7e]")


def _ftfy_lines(text: str) -> str:
    """ftfy.fix_text, given only the lines it could change.

    ftfy fixes a text newline-separated segment by segment, so a line of printable ASCII
    comes out as it went in; a runbook is mostly such lines, and skipping them takes ftfy
    from about a third of a 1 MB parse to a few per cent.
    """
    if not SUSPECT.search(text):
        return text
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if SUSPECT.search(line):
            lines[index] = ftfy.fix_text(line, config=FTFY_CONFIG)
    return "\n".join(lines)


def repair_text(text: str) -> Repair:
    fixes: list[tuple[str, str]] = []

    def macroman_run(match: re.Match) -> str:
        run = match.group(0)
        fixed = _macroman(run)
        if fixed is None:
            return run
        fixes.append((run, fixed))
        return fixed

    text = NON_ASCII_RUN.sub(macroman_run, text)
    # Normalise line endings first so ftfy's changes can be compared line by line.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    fixed = _ftfy_lines(text)
    if fixed != text:
        for before, after in zip(text.split("\n"), fixed.split("\n"), strict=False):
            if before != after:
                for bad, good in zip(
                    NON_ASCII_RUN.findall(before), NON_ASCII_RUN.findall(after), strict=False
                ):
                    if bad != good:
                        fixes.append((bad, good))
    return Repair(fixed, fixes)
