"""Runbook library and search, runbook pages, version history and diffs, upload."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods, require_safe

from incidents.permissions import require_perm
from incidents.statuspage.proposals import acceptable as comms_acceptable
from probes.proposals import acceptable
from runbooks.corrections import walk
from runbooks.importer import MAX_BYTES, RunbookImportError, import_runbook
from runbooks.models import Proposal, Runbook, RunbookVersion, Scenario
from runbooks.render import diff_lines, proposal_summary, render_tree
from runbooks.search import search_scenarios

# Columns of a version that a listing needs; the text and the tree stay in the database.
VERSION_HEAVY_FIELDS = ("source", "repaired", "tree")


@require_safe
@login_required
def library(request: HttpRequest) -> HttpResponse:
    require_perm(request, "runbooks.view_runbook")
    query = request.GET.get("q", "").strip()
    results = search_scenarios(query) if query else []
    if request.htmx:
        return render(
            request, "runbooks/library.html#search-results", {"query": query, "results": results}
        )
    runbooks = (
        Runbook.objects.select_related("current_version")
        .defer(*(f"current_version__{name}" for name in VERSION_HEAVY_FIELDS))
        .annotate(
            scenario_count=Count(
                "current_version__scenarios",
                filter=Q(
                    current_version__scenarios__kind=Scenario.Kind.SCENARIO,
                    current_version__scenarios__retired_at__isnull=True,
                ),
            ),
            procedure_count=Count(
                "current_version__scenarios",
                filter=Q(
                    current_version__scenarios__kind=Scenario.Kind.PROCEDURE,
                    current_version__scenarios__retired_at__isnull=True,
                ),
            ),
        )
    )
    context = {"runbooks": runbooks, "query": query, "results": results}
    return render(request, "runbooks/library.html", context)


@require_safe
@login_required
def runbook_detail(request: HttpRequest, slug: str) -> HttpResponse:
    require_perm(request, "runbooks.view_runbook")
    runbook = get_object_or_404(
        Runbook.objects.select_related("current_version__imported_by"), slug=slug
    )
    version = runbook.current_version
    if version is None:
        raise Http404("This runbook has no version yet.")
    version.runbook = runbook
    return _runbook_page(request, version)


@require_safe
@login_required
def runbook_version(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    require_perm(request, "runbooks.view_runbook")
    version = get_object_or_404(
        # The current version's number is needed for the "see what changed since" link.
        RunbookVersion.objects.select_related("runbook__current_version", "imported_by").defer(
            *(f"runbook__current_version__{name}" for name in VERSION_HEAVY_FIELDS)
        ),
        runbook__slug=slug,
        number=number,
    )
    return _runbook_page(request, version)


def _runbook_page(request: HttpRequest, version: RunbookVersion) -> HttpResponse:
    proposals = list(version.proposals.select_related("decided_by"))
    for proposal in proposals:
        proposal.summary = proposal_summary(proposal.kind, proposal.payload)
        proposal.acceptable = acceptable(proposal) or comms_acceptable(proposal)
        proposal.accept_perm = (
            "incidents.add_commstemplate"
            if proposal.kind == Proposal.Kind.COMMS_TEMPLATE
            else "probes.add_probe"
        )
        proposal.can_accept = proposal.acceptable and request.user.has_perm(proposal.accept_perm)
    document = render_tree(version.tree)
    context = {
        "runbook": version.runbook,
        "version": version,
        "is_current": version.runbook.current_version_id == version.pk,
        "document": document,
        "proposals": proposals,
        "unparsed": version.tree.get("unparsed", []),
        "metadata": version.tree.get("metadata", {}),
        "corrected": sum(1 for node, _p, _a in walk(version.tree) if "correction" in node),
    }
    return render(request, "runbooks/runbook.html", context)


@require_safe
@login_required
def versions(request: HttpRequest, slug: str) -> HttpResponse:
    require_perm(request, "runbooks.view_runbook")
    runbook = get_object_or_404(Runbook, slug=slug)
    # The compare form is a plain GET form; its answer is the diff page's own address.
    try:
        old, new = int(request.GET["a"]), int(request.GET["b"])
    except (KeyError, ValueError):
        pass
    else:
        return redirect("runbooks:diff", runbook.slug, old, new)
    history = (
        runbook.versions.select_related("imported_by")
        .defer(*VERSION_HEAVY_FIELDS)
        .annotate(
            scenario_count=Count(
                "scenarios",
                filter=Q(
                    scenarios__retired_at__isnull=True,
                    scenarios__kind__in=[Scenario.Kind.SCENARIO, Scenario.Kind.PROCEDURE],
                ),
            )
        )
        .order_by("-number")
    )
    return render(request, "runbooks/versions.html", {"runbook": runbook, "history": history})


@require_safe
@login_required
def diff(request: HttpRequest, slug: str, a: int, b: int) -> HttpResponse:
    require_perm(request, "runbooks.view_runbook")
    found = {
        v.number: v
        for v in RunbookVersion.objects.select_related("runbook")
        .only("number", "repaired", "imported_at", "filename", "runbook__slug", "runbook__title")
        .filter(runbook__slug=slug, number__in=[a, b])
    }
    if a not in found or b not in found:
        raise Http404("No such version of this runbook.")
    old, new = found[a], found[b]
    lines = diff_lines(old.repaired, new.repaired)
    context = {
        "runbook": old.runbook,
        "old": old,
        "new": new,
        "lines": lines,
        "added": sum(1 for line in lines if line.kind == "add"),
        "removed": sum(1 for line in lines if line.kind == "del"),
    }
    return render(request, "runbooks/diff.html", context)


class UploadForm(forms.Form):
    file = forms.FileField(
        label="Runbook file",
        help_text=f"A Markdown file, UTF-8, at most {MAX_BYTES // 1024:,} KB.",
        widget=forms.ClearableFileInput(
            attrs={"accept": ".md,.markdown,.txt,text/markdown,text/plain"}
        ),
    )


class RunbookSizeLimit(FileUploadHandler):
    """Stops keeping an upload once it passes the runbook limit: a 2 GB file is refused
    after 1 MB instead of being spooled to a temporary file first. The rest of the body is
    read and discarded, so the browser gets the 413 page instead of a reset connection."""

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.received = 0
        self.too_large = False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > MAX_BYTES:
            self.too_large = True
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


# The size limit has to be in place before anything reads the body, and CSRF checking reads
# it: so the outer view is exempt and the inner one checks the token (Django's documented
# pattern for per-view upload handlers).
@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def upload(request: HttpRequest) -> HttpResponse:
    require_perm(request, "runbooks.import_runbook")
    limit = RunbookSizeLimit(request)
    request.upload_handlers.insert(0, limit)
    return _upload(request, limit)


@csrf_protect
def _upload(request: HttpRequest, limit: RunbookSizeLimit) -> HttpResponse:
    if request.method != "POST":
        return _upload_form(request, UploadForm())
    form = UploadForm(request.POST, request.FILES)
    if limit.too_large or (form.is_valid() and form.cleaned_data["file"].size > MAX_BYTES):
        error = (
            f"The file is larger than {MAX_BYTES:,} bytes, the limit for a runbook. "
            "Nothing was stored."
        )
        return _upload_form(request, UploadForm(), [error], status=413)
    if not form.is_valid():
        return _upload_form(request, form, form.errors.get("file", []), status=400)
    uploaded = form.cleaned_data["file"]
    try:
        result = import_runbook(uploaded.read(), filename=uploaded.name, by=request.user)
    except RunbookImportError as exc:
        return _upload_form(request, form, [f"{exc} Nothing was stored."], status=400)
    version = result.version
    if result.created:
        messages.success(request, f"{version.runbook.title} v{version.number} imported")
    else:
        messages.info(request, f"{version.runbook.title} unchanged: same as v{version.number}")
    return redirect(version.get_absolute_url())


def _upload_form(
    request: HttpRequest, form: UploadForm, errors: list[str] | None = None, status: int = 200
) -> HttpResponse:
    context = {"form": form, "errors": errors or []}
    return render(request, "runbooks/upload.html", context, status=status)
