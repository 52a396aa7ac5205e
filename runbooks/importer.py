"""Import a runbook text as a new version (or recognise one already imported)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from django.db import IntegrityError, transaction
from django.utils.text import slugify

from probes.models import StepCheck
from probes.recognise import recognise_step
from runbooks.corrections import apply_corrections, scenario_rows, section_rows
from runbooks.models import Proposal, Runbook, RunbookSection, RunbookVersion, Scenario
from runbooks.parser import build_tree
from runbooks.repair import repair_text
from runbooks.steps import checklist_steps

MAX_BYTES = 1024 * 1024


class RunbookImportError(ValueError):
    """The file can't be a runbook (too large, binary, not UTF-8); nothing was stored."""


@dataclass
class ImportResult:
    version: RunbookVersion
    created: bool


def decode(data: bytes) -> str:
    if len(data) > MAX_BYTES:
        raise RunbookImportError(
            f"The file is {len(data):,} bytes; runbooks are limited to {MAX_BYTES:,} bytes."
        )
    if b"\x00" in data:
        raise RunbookImportError("The file is not text (it contains NUL bytes).")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RunbookImportError(
            f"The file is not UTF-8 text (byte {exc.start} can't be decoded)."
        ) from None


def runbook_slug(filename: str, metadata: dict) -> str:
    slug = slugify(metadata.get("slug") or Path(filename).stem)
    return slug[:120] or "runbook"


def import_runbook(data: bytes | str, *, filename: str, by=None) -> ImportResult:
    text = decode(data) if isinstance(data, bytes) else data
    if len(text.encode("utf-8")) > MAX_BYTES:
        raise RunbookImportError(f"Runbooks are limited to {MAX_BYTES:,} bytes.")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    repaired = repair_text(text)
    tree, warnings = build_tree(repaired, Path(filename).stem)
    slug = runbook_slug(filename, tree.get("metadata", {}))
    try:
        return _store(slug, text, repaired.text, digest, tree, warnings, filename, by)
    except IntegrityError:
        # A concurrent import of the same text won the race: that version is ours too.
        existing = RunbookVersion.objects.get(runbook__slug=slug, source_sha256=digest)
        return ImportResult(existing, created=False)


def _store(slug, text, repaired, digest, tree, warnings, filename, by) -> ImportResult:
    with transaction.atomic():
        runbook, _ = Runbook.objects.get_or_create(slug=slug, defaults={"title": tree["title"]})
        runbook = Runbook.objects.select_for_update().get(pk=runbook.pk)
        existing = runbook.versions.filter(source_sha256=digest).first()
        if existing is not None:
            return ImportResult(existing, created=False)
        last = runbook.versions.order_by("-number").values_list("number", flat=True).first()
        # A lead's corrections of earlier versions' reading, after classification and before
        # the rows are derived from the tree (runbooks/corrections.py).
        warnings = warnings + apply_corrections(
            tree, runbook.corrections.select_related("corrected_by")
        )
        tree["warnings"] = warnings
        version = RunbookVersion.objects.create(
            runbook=runbook,
            number=(last or 0) + 1,
            filename=Path(filename).name,
            source=text,
            repaired=repaired,
            source_sha256=digest,
            tree=tree,
            warnings=warnings,
            imported_by=by,
        )
        scenarios = scenario_rows(version, tree)
        Scenario.objects.bulk_create(scenarios)
        RunbookSection.objects.bulk_create(section_rows(version, tree))
        step_checks = step_check_proposal(runbook, scenarios)
        if step_checks is not None:
            step_checks.version = version
            step_checks.save()
        Proposal.objects.bulk_create(
            Proposal(
                version=version,
                kind=p["kind"],
                title=p["title"][:300],
                source=p["source"][:300],
                payload=p["payload"],
            )
            for p in tree.get("proposals", [])
        )
        runbook.title = tree["title"] or runbook.title
        runbook.current_version = version
        runbook.save(update_fields=["title", "current_version"])
    return ImportResult(version, created=True)


def step_check_proposal(runbook: Runbook, scenarios: list[Scenario]) -> Proposal | None:
    """One proposal for all the steps whose code the console can run as a probe (see
    probes.recognise), leaving out the checks this runbook already has bound."""
    found: dict[str, dict] = {}
    for scenario in scenarios:
        for step in checklist_steps(scenario.node):
            check = recognise_step(step["code"])
            if check is None:
                continue
            entry = found.setdefault(check.key, {**check.as_dict(), "steps": []})
            where = {"scenario": scenario.title, "anchor": scenario.anchor,
                     "text": step["text"][:200]}
            if where not in entry["steps"]:
                entry["steps"].append(where)
    bound = set(
        StepCheck.objects.filter(runbook=runbook, key__in=list(found)).values_list(
            "key", flat=True
        )
    )
    checks = [entry for key, entry in found.items() if key not in bound]
    if not checks:
        return None
    steps = sum(len(entry["steps"]) for entry in checks)
    return Proposal(
        kind=Proposal.Kind.STEP_CHECKS,
        title=f"{steps} step{'s' if steps != 1 else ''} can run their check "
        f"({len(checks)} probe{'s' if len(checks) != 1 else ''})",
        payload={"checks": checks},
    )
