"""/api/v1/runbooks (POST): import a runbook, as the Upload page does, for leads, from a JSON
body (`filename`, `markdown`) or a multipart `file`. The answer is the version (new, or the
existing one when the text is the same: 200 instead of 201) and its units, the scenarios and
procedures a responder can attach.

Both go through the upload page's permission, its UploadForm (for the file) and
runbooks.importer.import_runbook, whose refusals (too large, not UTF-8, not text) come back
with the page's words and "Nothing was stored."
"""

from __future__ import annotations

import functools

from django.http import HttpRequest
from ninja import Field, File, Schema, Status, UploadedFile
from ninja.decorators import decorate_view

from console.api_kit import READ, WRITE, ProblemError, problem_response
from incidents.permissions import require_perm

# The runbooks router: POST on its list's path has to be an operation of the same router.
from runbooks.api import VersionOut, router, version_data
from runbooks.importer import MAX_BYTES, RunbookImportError, import_runbook
from runbooks.models import Scenario
from runbooks.views import RunbookSizeLimit, UploadForm

UPLOAD = {**WRITE, 413: READ[404]}


class MarkdownIn(Schema):
    filename: str = Field(
        min_length=1,
        max_length=200,
        description="Names the runbook (its slug) unless the "
        "front matter sets one, e.g. database-failover.md",
    )
    markdown: str = Field(description=f"UTF-8 text, at most {MAX_BYTES:,} bytes")


class UnitOut(Schema):
    id: int
    kind: str = Field(description="scenario or procedure")
    title: str
    anchor: str
    severity: str


class ImportedOut(Schema):
    slug: str
    title: str
    created: bool = Field(description="False: the same text as this existing version")
    version: VersionOut
    units: list[UnitOut]


def _too_large() -> ProblemError:
    return ProblemError(
        413,
        f"The file is larger than {MAX_BYTES:,} bytes, the limit for a runbook. "
        "Nothing was stored.",
    )


def size_limited(view):
    """The Upload page's RunbookSizeLimit on the multipart route, in place before the API
    parses the body: a file over the limit is not spooled to a temporary file, and the answer
    is the 413 (not the 422 of a missing `file` that the stopped upload would give)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        limit = RunbookSizeLimit(request)
        request.upload_handlers.insert(0, limit)
        response = view(request, *args, **kwargs)
        if limit.too_large:
            return problem_response(request, 413, _too_large().detail)
        return response

    return wrapper


def _imported(request: HttpRequest, data: bytes | str, filename: str):
    try:
        result = import_runbook(data, filename=filename, by=request.user)
    except RunbookImportError as exc:
        raise ProblemError(400, f"{exc} Nothing was stored.") from None
    version = result.version
    units = Scenario.objects.units().filter(version=version).order_by("position", "id")
    answer = {
        "slug": version.runbook.slug,
        "title": version.runbook.title,
        "created": result.created,
        "version": version_data(version),
        "units": [
            {
                "id": u.pk,
                "kind": u.kind,
                "title": u.title,
                "anchor": u.anchor,
                "severity": u.severity,
            }
            for u in units
        ],
    }
    return Status(201 if result.created else 200, answer)


@router.post("", response={200: ImportedOut, 201: ImportedOut, **UPLOAD}, summary="Import Markdown")
def import_markdown(request: HttpRequest, payload: MarkdownIn):
    require_perm(request, "runbooks.import_runbook")
    if len(payload.markdown.encode("utf-8")) > MAX_BYTES:
        raise _too_large()
    return _imported(request, payload.markdown, payload.filename)


@router.post(
    "/file",
    response={200: ImportedOut, 201: ImportedOut, **UPLOAD},
    summary="Import a Markdown file (multipart)",
)
@decorate_view(size_limited)
def import_file(request: HttpRequest, file: File[UploadedFile]):
    require_perm(request, "runbooks.import_runbook")
    form = UploadForm(files={"file": file})
    if form.is_valid() and form.cleaned_data["file"].size > MAX_BYTES:
        raise _too_large()
    if not form.is_valid():
        raise ProblemError(400, " ".join(form.errors.get("file", [])) or "Send a file.")
    uploaded = form.cleaned_data["file"]
    return _imported(request, uploaded.read(), uploaded.name or "runbook.md")
