"""The reading review of a runbook version, and a lead's corrections of it.

Everyone who reads runbooks sees how each version was read; whoever may import runbooks
(leads) corrects the current version's reading. A correction is a plain form post: the page
reloads on the corrected section with a message, or answers 400 with the reason.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from incidents.permissions import require_perm
from runbooks.corrections import SEVERITIES, CorrectionError, correct_section, find_section
from runbooks.models import ReadingCorrection, Runbook, RunbookVersion
from runbooks.reading import review_sections, summary
from runbooks.render import _assign_ids
from runbooks.views import VERSION_HEAVY_FIELDS

CORRECT_PERM = "runbooks.import_runbook"


@require_safe
@login_required
def reading_current(request: HttpRequest, slug: str) -> HttpResponse:
    require_perm(request, "runbooks.view_runbook")
    runbook = get_object_or_404(Runbook.objects.select_related("current_version"), slug=slug)
    if runbook.current_version is None:
        raise Http404("This runbook has no version yet.")
    return redirect("runbooks:reading", runbook.slug, runbook.current_version.number)


@require_safe
@login_required
def reading(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    require_perm(request, "runbooks.view_runbook")
    return _reading_page(request, _version(slug, number))


def _version(slug: str, number: int) -> RunbookVersion:
    return get_object_or_404(
        RunbookVersion.objects.select_related("runbook__current_version", "imported_by").defer(
            *(f"runbook__current_version__{name}" for name in VERSION_HEAVY_FIELDS)
        ),
        runbook__slug=slug,
        number=number,
    )


def _reading_page(
    request: HttpRequest,
    version: RunbookVersion,
    *,
    error: str = "",
    failed_path: str = "",
    status: int = 200,
) -> HttpResponse:
    runbook = version.runbook
    is_current = runbook.current_version_id == version.pk
    sections = review_sections(version.tree)
    corrections = list(runbook.corrections.select_related("corrected_by"))
    missing = {w["anchor_path"]: w for w in version.warnings if w.get("kind") == "correction"}
    context = {
        "runbook": runbook,
        "version": version,
        "is_current": is_current,
        "sections": sections,
        "summary": summary(sections),
        "corrections": [c for c in corrections if c.history],
        "missing": [(c, missing[c.anchor_path]) for c in corrections if c.anchor_path in missing],
        "can_correct": is_current and request.user.has_perm(CORRECT_PERM),
        "kinds": ReadingCorrection.Kind.choices,
        "severities": SEVERITIES,
        "error": error,
        "failed_path": failed_path,
    }
    return render(request, "runbooks/reading.html", context, status=status)


@require_POST
@login_required
def correct(request: HttpRequest, slug: str) -> HttpResponse:
    require_perm(request, CORRECT_PERM)
    runbook = get_object_or_404(Runbook.objects.select_related("current_version"), slug=slug)
    if runbook.current_version is None:
        raise Http404("This runbook has no version yet.")
    anchor_path = request.POST.get("path")
    try:
        if anchor_path is None:
            # "" is the document itself (corrections.ROOT_PATH): a missing field is no path.
            raise CorrectionError("Say which section to correct.")
        correction = correct_section(
            runbook,
            anchor_path,
            kind=request.POST.get("kind", ""),
            title=request.POST.get("title", ""),
            severity=request.POST.get("severity", ""),
            by=request.user,
        )
    except CorrectionError as exc:
        version = _version(slug, runbook.current_version.number)
        return _reading_page(
            request, version, error=str(exc), failed_path=anchor_path or "", status=400
        )
    version = runbook.current_version
    if correction.is_empty:
        messages.success(request, f"“{correction.section_title}” is read as the import read it.")
    else:
        messages.success(
            request,
            f"Correction saved: v{version.number} re-read; later versions get it too.",
        )
    url = reverse("runbooks:reading", args=[runbook.slug, version.number])
    tree = RunbookVersion.objects.values_list("tree", flat=True).get(pk=version.pk)
    node = find_section(tree, anchor_path)
    element = _assign_ids(tree).get(id(node)) if node is not None else None
    return redirect(f"{url}#review-{element}" if element else url)
