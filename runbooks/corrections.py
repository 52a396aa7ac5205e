"""A lead's corrections of how a runbook is read, and the index of every section.

**Anchor paths.** A correction names its section by the chain of anchors from the top of the
runbook down to it, joined with "/": `redis/redis-down/diagnosis`. Each link is the section's
anchor *before* GitHub's de-duplication (the second "Diagnosis" of a document is
`diagnosis-1` on the page, but `diagnosis` under its own parent), and only when siblings share
one does the n-th of them get `~n` (`steps~2`). So the path survives what usually happens
between two versions: sections added, removed or retitled elsewhere in the document, another
"Diagnosis" appearing in an earlier scenario. A single suffixed anchor would not: it shifts as
soon as a same-named section appears before it. When the exact path is gone but exactly one
section of the new version ends with the same anchor (the section moved under another
heading), the correction follows it and the version's import notes say so, provided no
other section ended with that anchor when it was corrected (a "Diagnosis" is never taken
for another scenario's "Diagnosis"). Renaming a
section through a correction never changes its path: anchors come from the text.

**Applying.** `apply_corrections(tree, corrections)` runs after classification, before the
Scenario rows are written (runbooks/importer.py), on every version imported; each corrected
node keeps what the reading said under `correction.read`, so the reading review shows both and
`revert_corrections` can restore the plain reading. A correction whose section is gone is a
warning on the version (`kind: "correction"`), shown in its import notes and on its reading
review page.

**Re-deriving.** Saving a correction re-applies all of the runbook's corrections to its current
version and brings its Scenario rows in step (`sync_scenarios`): a row with a checklist
attached is never changed, it is retired and replaced, so the checklist keeps the title, kind
and steps it was attached with. Older versions keep the reading they had.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from runbooks.models import (
    Proposal,
    ReadingCorrection,
    Runbook,
    RunbookSection,
    RunbookVersion,
    Scenario,
)
from runbooks.parser import Node
from runbooks.steps import checklist_steps, search_text

UNIT_KINDS = (Scenario.Kind.SCENARIO, Scenario.Kind.PROCEDURE)
SEVERITIES = ("P0", "P1", "P2", "P3")
MAX_TITLE = 300
SUFFIX = re.compile(r"^(.+)-(\d+)$")
# The anchor path of the document itself: a file that is one unit as a whole (its title in
# the front matter, no heading of its own) is a unit at the root, Scenario.path [].
ROOT_PATH = ""


class CorrectionError(ValueError):
    """The correction can't be made (unknown section, bad value); nothing was stored."""


# -- Anchor paths ----------------------------------------------------------------------------


def walk(tree: Node) -> Iterator[tuple[Node, list[int], list[Node]]]:
    """Every section in document order with its index path and its ancestors (top first)."""

    def visit(node: Node, path: list[int], above: list[Node]):
        for index, child in enumerate(node["children"]):
            yield child, [*path, index], above
            yield from visit(child, [*path, index], [*above, child])

    yield from visit(tree, [], [])


def base_anchors(tree: Node) -> dict[int, str]:
    """Each section's anchor without GitHub's de-duplication suffix, by id(node).

    The suffix is read back the way github-slugger adds it: `x-N` is the N-th repeat of `x`
    when an earlier section of the document has the anchor `x` itself."""
    seen: set[str] = set()
    bases: dict[int, str] = {}
    for node, _path, _above in walk(tree):
        anchor = node.get("anchor") or "section"
        base = anchor
        match = SUFFIX.match(anchor)
        if match and match.group(1) in seen:
            base = match.group(1)
        seen.add(anchor)
        bases[id(node)] = base
    return bases


def anchor_paths(tree: Node) -> dict[int, str]:
    """Each section's anchor path, by id(node) (see the module's docstring)."""
    bases = base_anchors(tree)
    paths: dict[int, str] = {}

    def visit(node: Node, prefix: str) -> None:
        counts: Counter[str] = Counter()
        for child in node["children"]:
            base = bases[id(child)]
            counts[base] += 1
            link = base if counts[base] == 1 else f"{base}~{counts[base]}"
            path = f"{prefix}/{link}" if prefix else link
            paths[id(child)] = path
            visit(child, path)

    visit(tree, "")
    return paths


def last_link(path: str) -> str:
    return path.rsplit("/", 1)[-1]


# -- Applying --------------------------------------------------------------------------------


def _corrected_values(node: Node, correction: ReadingCorrection) -> None:
    if correction.kind:
        if correction.kind in UNIT_KINDS and node["kind"] not in UNIT_KINDS:
            # The checklist attaching it will create, computed while it is still a section.
            node["checklist"] = checklist_steps(node)
        elif correction.kind == Scenario.Kind.SECTION:
            node.pop("checklist", None)
        node["kind"] = correction.kind
    if correction.title:
        node["title"] = correction.title
    if correction.severity:
        node["severity"] = (
            None if correction.severity == ReadingCorrection.NO_SEVERITY else (correction.severity)
        )


def apply_corrections(tree: Node, corrections: Iterable[ReadingCorrection]) -> list[dict]:
    """Apply a runbook's corrections to a classified tree in place; the warnings (corrected
    sections that are gone, or found elsewhere) for the version."""
    corrections = [c for c in corrections if not c.is_empty]
    if not corrections:
        return []
    paths = anchor_paths(tree)
    nodes = {path: node for node, _p, _a in walk(tree) if (path := paths[id(node)])}
    nodes[ROOT_PATH] = tree
    by_last: dict[str, list[Node]] = {}
    for path, node in nodes.items():
        by_last.setdefault(last_link(path), []).append(node)
    warnings: list[dict] = []
    for correction in corrections:
        node = nodes.get(correction.anchor_path)
        moved = False
        if node is None and correction.anchor_path != ROOT_PATH:
            found = by_last.get(last_link(correction.anchor_path), [])
            if correction.anchor_was_unique and len(found) == 1 and "correction" not in found[0]:
                node, moved = found[0], True
        if node is None:
            warnings.append(
                {
                    "kind": "correction",
                    "message": f"The correction of “{correction.section_title}” was not "
                    f"applied: this version has no section at {correction.anchor_path}.",
                    "correction_id": correction.pk,
                    "anchor_path": correction.anchor_path,
                }
            )
            continue
        read = {"kind": node["kind"], "title": node["title"], "severity": node.get("severity")}
        if "checklist" in node:
            read["checklist"] = node["checklist"]
        _corrected_values(node, correction)
        node["correction"] = {
            "id": correction.pk,
            "anchor_path": correction.anchor_path,
            "by": correction.corrected_by.get_username() if correction.corrected_by_id else "",
            "at": correction.corrected_at.isoformat(),
            "read": read,
        }
        if moved:
            warnings.append(
                {
                    "kind": "correction",
                    "message": f"The correction of “{correction.section_title}” was applied "
                    f"to the section now at {paths[id(node)]} (it was at "
                    f"{correction.anchor_path}).",
                    "correction_id": correction.pk,
                    "anchor_path": correction.anchor_path,
                }
            )
    return warnings


def revert_corrections(tree: Node) -> None:
    """The tree as the reading made it, before any correction."""
    for node, _path, _above in [(tree, [], []), *walk(tree)]:
        mark = node.pop("correction", None)
        if mark is None:
            continue
        read = mark["read"]
        node["kind"], node["title"], node["severity"] = (
            read["kind"],
            read["title"],
            read["severity"],
        )
        if "checklist" in read:
            node["checklist"] = read["checklist"]
        else:
            node.pop("checklist", None)


# -- Rows derived from the tree --------------------------------------------------------------


def scenario_rows(version: RunbookVersion, tree: Node) -> list[Scenario]:
    rows: list[Scenario] = []
    # A one-unit file without a heading of its own (its title in the front matter) is a
    # unit at the root, path [].
    root = [(tree, [], [])] if tree["kind"] in UNIT_KINDS else []
    for node, path, _above in [*root, *walk(tree)]:
        if node["kind"] in UNIT_KINDS:
            rows.append(
                Scenario(
                    version=version,
                    kind=node["kind"],
                    title=node["title"][:MAX_TITLE],
                    anchor=node["anchor"][:MAX_TITLE],
                    severity=node.get("severity") or "",
                    position=len(rows),
                    path=path,
                    search_text=search_text(node),
                )
            )
    return rows


def section_search_text(node: Node) -> str:
    """What the section search matches a section by. A unit: all of it, as for scenarios.
    Any other section: its own text and its pseudo-headings' (`**Steps:**`), and only the
    titles of its sub-sections, which have rows of their own; otherwise every chapter would
    match whatever its sections say, ahead of the section that says it."""
    if node["kind"] in UNIT_KINDS:
        return search_text(node)
    parts: list[str] = [node["title"]]

    def steps(items: list[dict]) -> None:
        for item in items:
            parts.append(item["text"])
            steps(item.get("children", []))

    def visit(section: Node) -> None:
        for block in section["blocks"]:
            if block["type"] == "paragraph":
                parts.append(block["text"])
        steps(section["steps"])
        for child in section["children"]:
            parts.append(child["title"])
            if child.get("pseudo"):
                visit(child)

    visit(node)
    return "\n".join(p for p in parts if p)


def section_rows(version: RunbookVersion, tree: Node) -> list[RunbookSection]:
    """One row per section of the tree, for the section search."""
    paths = anchor_paths(tree)
    rows: list[RunbookSection] = []
    for node, path, above in walk(tree):
        rows.append(
            RunbookSection(
                version=version,
                path=path,
                anchor_path=paths[id(node)][:1000],
                anchor=(node.get("anchor") or "")[:MAX_TITLE],
                title=node["title"][:MAX_TITLE],
                trail=" › ".join(a["title"] for a in above)[:1000],
                kind=node["kind"],
                severity=node.get("severity") or "",
                step_count=len(checklist_steps(node)),
                position=len(rows),
                search_text=section_search_text(node),
            )
        )
    return rows


def sync_scenarios(version: RunbookVersion) -> None:
    """Bring a version's Scenario rows in step with its (corrected) tree. A row with a
    checklist attached is never changed: it is retired and a new row takes its place."""
    now = timezone.now()
    wanted = scenario_rows(version, version.tree)
    # Lock the rows first: a checklist being attached to one right now (its insert holds a
    # key-share lock on it) commits before the counts below are read, so a row is never
    # deleted under a checklist.
    list(version.scenarios.select_for_update().values_list("pk", flat=True))
    have = {
        tuple(row.path): row for row in version.scenarios.units().annotate(run_count=Count("runs"))
    }
    create: list[Scenario] = []
    update: list[Scenario] = []
    retire: list[Scenario] = []
    for row in wanted:
        old = have.pop(tuple(row.path), None)
        if old is None:
            create.append(row)
        elif (old.kind, old.title, old.severity) == (row.kind, row.title, row.severity) or (
            not old.run_count
        ):
            old.kind, old.title, old.severity = row.kind, row.title, row.severity
            old.anchor, old.position, old.search_text = row.anchor, row.position, row.search_text
            update.append(old)
        else:
            old.retired_at = now
            retire.append(old)
            create.append(row)
    for old in have.values():
        if old.run_count:
            old.retired_at = now
            retire.append(old)
        else:
            old.delete()
    Scenario.objects.bulk_update(
        update, ["kind", "title", "severity", "anchor", "position", "search_text"]
    )
    Scenario.objects.bulk_update(retire, ["retired_at"])
    Scenario.objects.bulk_create(create)


def sync_sections(version: RunbookVersion) -> None:
    """The section index of a version in step with its (corrected) tree."""
    wanted = {row.anchor_path: row for row in section_rows(version, version.tree)}
    rows = list(version.sections.all())
    for row in rows:
        new = wanted.pop(row.anchor_path, None)
        if new is not None:
            row.title, row.kind, row.severity = new.title, new.kind, new.severity
            row.step_count, row.search_text = new.step_count, new.search_text
    RunbookSection.objects.bulk_update(
        rows, ["title", "kind", "severity", "step_count", "search_text"]
    )
    RunbookSection.objects.bulk_create(wanted.values())


# -- Correcting ------------------------------------------------------------------------------


def find_section(tree: Node, anchor_path: str) -> Node | None:
    if anchor_path == ROOT_PATH:
        return tree
    paths = anchor_paths(tree)
    for node, _path, _above in walk(tree):
        if paths[id(node)] == anchor_path:
            return node
    return None


def _clean(kind: str, title: str, severity: str) -> tuple[str, str, str]:
    if kind not in ReadingCorrection.Kind.values:
        raise CorrectionError("Choose scenario, procedure, not a unit, or as read.")
    title = " ".join(title.split())
    if len(title) > MAX_TITLE:
        raise CorrectionError(f"Keep the title under {MAX_TITLE} characters.")
    if severity not in ("", ReadingCorrection.NO_SEVERITY, *SEVERITIES):
        raise CorrectionError("Choose a severity from P0 to P3, none, or as read.")
    return kind, title, severity


@transaction.atomic
def correct_section(
    runbook: Runbook,
    anchor_path: str,
    *,
    kind: str,
    title: str,
    severity: str,
    by: AbstractBaseUser,
) -> ReadingCorrection:
    """Store (or change, or with every field blank undo) the correction of one section of
    the runbook's current version, and re-apply every correction to that version."""
    kind, title, severity = _clean(kind, title, severity)
    runbook = Runbook.objects.select_for_update().get(pk=runbook.pk)
    version = RunbookVersion.objects.select_for_update().get(pk=runbook.current_version_id)
    tree = version.tree
    revert_corrections(tree)
    node = find_section(tree, anchor_path)
    existing = runbook.corrections.filter(anchor_path=anchor_path).first()
    if node is None and existing is None:
        raise CorrectionError("The current version has no such section.")
    if node is not None:
        # A title equal to the reading's, or a kind the reading already gave, is no change.
        if title == node["title"]:
            title = ""
        if kind == node["kind"]:
            kind = ""
        if severity and (None if severity == "-" else severity) == node.get("severity"):
            severity = ""
    now = timezone.now()
    correction = existing or ReadingCorrection(runbook=runbook, anchor_path=anchor_path)
    before = {"kind": correction.kind, "title": correction.title, "severity": correction.severity}
    after = {"kind": kind, "title": title, "severity": severity}
    changes = {
        field: [before[field], after[field]] for field in after if before[field] != after[field]
    }
    correction.kind, correction.title, correction.severity = kind, title, severity
    if node is not None:
        correction.section_title = node["title"][:MAX_TITLE]
        ends = Counter(last_link(path) for path in anchor_paths(tree).values())
        correction.anchor_was_unique = ends[last_link(anchor_path)] == 1
    correction.corrected_by = by
    correction.corrected_at = now
    if changes:
        correction.history = [
            *correction.history,
            {
                "at": now.isoformat(),
                "by": by.get_username(),
                "version": version.number,
                "changes": changes,
            },
        ]
    if correction.pk is None and correction.is_empty:
        raise CorrectionError("That is how the section is read already: nothing to correct.")
    correction.save()
    reapply(runbook, version)
    return correction


def reapply(runbook: Runbook, version: RunbookVersion) -> None:
    """Re-apply all of the runbook's corrections to this version and re-derive its rows."""
    tree = version.tree
    revert_corrections(tree)
    corrections = runbook.corrections.select_related("corrected_by")
    warnings = apply_corrections(tree, corrections)
    version.tree = tree
    version.warnings = [w for w in version.warnings if w.get("kind") != "correction"] + warnings
    tree["warnings"] = version.warnings
    version.save(update_fields=["tree", "warnings"])
    sync_scenarios(version)
    sync_sections(version)
    propose_step_checks(runbook, version)


def propose_step_checks(runbook: Runbook, version: RunbookVersion) -> None:
    """A section made a unit may hold steps whose code is a check: offer them, as an import
    does. The version's open step-checks proposal is brought up to date (or made); checks
    someone dismissed on this version are not offered again."""
    from runbooks.importer import step_check_proposal

    found = step_check_proposal(runbook, list(version.scenarios.units()))
    proposals = list(version.proposals.filter(kind=Proposal.Kind.STEP_CHECKS))
    decided = {
        check["key"]
        for p in proposals
        if p.status != Proposal.Status.PROPOSED
        for check in p.payload.get("checks", [])
    }
    if found is not None:
        checks = [c for c in found.payload["checks"] if c["key"] not in decided]
        steps = sum(len(c["steps"]) for c in checks)
        found.payload["checks"] = checks
        found.title = (
            f"{steps} step{'s' if steps != 1 else ''} can run their check "
            f"({len(checks)} probe{'s' if len(checks) != 1 else ''})"
        )
    open_one = next((p for p in proposals if p.status == Proposal.Status.PROPOSED), None)
    if found is None or not found.payload["checks"]:
        return
    if open_one is None:
        found.version = version
        found.save()
    elif open_one.payload != found.payload:
        open_one.title, open_one.payload = found.title, found.payload
        open_one.save(update_fields=["title", "payload"])


def corrections_for_import(runbook: Runbook) -> list[ReadingCorrection]:
    return list(runbook.corrections.select_related("corrected_by"))
