"""/api/v1/runbooks: the runbooks, their versions and each version's parsed tree (the
public format `parse_runbook` prints; see the README)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Path, Router, Schema

from console.api_kit import READ
from incidents.api.schemas import iso_time
from incidents.permissions import require_perm
from runbooks.models import Runbook, RunbookVersion

router = Router(tags=["runbooks"])
Slug = Annotated[str, Path(pattern=r"^[-a-zA-Z0-9_]+$", max_length=120)]
Number = Annotated[int, Path(ge=1, le=2**31 - 1)]


class VersionOut(Schema):
    number: int
    filename: str
    imported_by: str | None
    imported_at: datetime
    warnings: list[Any]


class RunbookOut(Schema):
    slug: str
    title: str
    current_version: int | None


class TreeOut(Schema):
    slug: str
    number: int
    tree: dict[str, Any]


def version_data(version: RunbookVersion) -> dict:
    return {
        "number": version.number,
        "filename": version.filename,
        "imported_by": version.imported_by.get_username() if version.imported_by_id else None,
        "imported_at": iso_time(version.imported_at),
        "warnings": version.warnings,
    }


@router.get("", response={200: list[RunbookOut], **READ}, summary="List runbooks")
def list_runbooks(request: HttpRequest):
    require_perm(request, "runbooks.view_runbook")
    runbooks = Runbook.objects.select_related("current_version").only(
        "slug", "title", "current_version__number"
    )
    return [
        {
            "slug": r.slug,
            "title": r.title,
            "current_version": r.current_version.number if r.current_version_id else None,
        }
        for r in runbooks.order_by("slug")
    ]


@router.get("/{slug}/versions", response={200: list[VersionOut], **READ}, summary="Versions")
def runbook_versions(request: HttpRequest, slug: Slug):
    require_perm(request, "runbooks.view_runbook")
    runbook = get_object_or_404(Runbook, slug=slug)
    versions = (
        runbook.versions.select_related("imported_by")
        .only("number", "filename", "imported_at", "warnings", "imported_by__username")
        .order_by("-number")
    )
    return [version_data(v) for v in versions]


@router.get(
    "/{slug}/versions/{number}/tree", response={200: TreeOut, **READ}, summary="Parsed tree"
)
def runbook_tree(request: HttpRequest, slug: Slug, number: Number):
    require_perm(request, "runbooks.view_runbook")
    version = get_object_or_404(
        RunbookVersion.objects.only("number", "tree"), runbook__slug=slug, number=number
    )
    return {"slug": slug, "number": version.number, "tree": version.tree}
