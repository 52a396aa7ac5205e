"""POST /api/v1/runbooks and /api/v1/runbooks/file: importing a runbook as the Upload page
does (permission matrix, 405, the importer's refusals with "Nothing was stored.", 413 over the
limit, the same text twice is one version) and the units in the answer."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from runbooks.importer import MAX_BYTES
from runbooks.models import RunbookVersion, Scenario
from tests.api.conftest import ROLES
from tests.api.upload_handlers import MeasuredTemporaryFileUploadHandler

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "runbooks-corpus"
SAMPLE = CORPUS / "02-loki-sop.md"
pytestmark = pytest.mark.skipif(not SAMPLE.exists(), reason="../shared/runbooks-corpus is not here")
EXPECTED = dict(anonymous=401, outsider=403, responder=403, lead=201, manager=201, read_only=403)


def _body() -> dict:
    return {"filename": "loki-sop.md", "markdown": SAMPLE.read_text()}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("kind", ["body", "file"])
def test_permission_matrix(clients, role, kind):
    before = RunbookVersion.objects.count()
    api = clients[role]
    if kind == "body":
        response = api.post("/api/v1/runbooks", _body())
    else:
        upload = SimpleUploadedFile("loki-sop.md", SAMPLE.read_bytes(), "text/markdown")
        response = api.client.post("/api/v1/runbooks/file", {"file": upload}, headers=api.headers)
    assert response.status_code == EXPECTED[role], response.content
    if EXPECTED[role] >= 400:
        assert response["Content-Type"] == "application/problem+json"
        assert RunbookVersion.objects.count() == before
    else:
        assert RunbookVersion.objects.count() == before + 1


def test_wrong_methods_are_405(lead_api):
    assert lead_api.get("/api/v1/runbooks/file").status_code == 405
    assert lead_api.send("PUT", "/api/v1/runbooks", _body()).status_code == 405


def test_import_answers_the_version_and_its_units(lead_api, lead):
    created = lead_api.post("/api/v1/runbooks", _body())
    assert created.status_code == 201, created.content
    body = created.json()
    version = RunbookVersion.objects.get(runbook__slug=body["slug"], number=1)
    assert body["created"] is True and body["version"]["number"] == 1
    assert body["version"]["imported_by"] == "leo" and version.imported_by == lead
    units = list(Scenario.objects.units().filter(version=version).order_by("position", "id"))
    assert units and [u["id"] for u in body["units"]] == [u.pk for u in units]
    assert {u["kind"] for u in body["units"]} <= {"scenario", "procedure"}
    # The same text again is the same version: 200, nothing new stored.
    again = lead_api.post("/api/v1/runbooks", _body())
    assert again.status_code == 200 and again.json()["created"] is False
    assert RunbookVersion.objects.count() == 1
    changed = lead_api.post(
        "/api/v1/runbooks", {**_body(), "markdown": _body()["markdown"] + "\n\nOne more line.\n"}
    )
    assert changed.status_code == 201 and changed.json()["version"]["number"] == 2


def test_refusals_store_nothing(lead_api):
    huge = lead_api.post(
        "/api/v1/runbooks", {"filename": "big.md", "markdown": "x" * (MAX_BYTES + 1)}
    )
    assert huge.status_code == 413 and huge.json()["detail"].endswith("Nothing was stored.")
    binary = SimpleUploadedFile("bin.md", b"# Title\n\x00\x01", "text/markdown")
    refused = lead_api.client.post(
        "/api/v1/runbooks/file", {"file": binary}, headers=lead_api.headers
    )
    assert refused.status_code == 400
    assert refused.json()["detail"] == (
        "The file is not text (it contains NUL bytes). Nothing was stored."
    )
    latin = SimpleUploadedFile("latin.md", "# Café\n".encode("latin-1"), "text/markdown")
    not_utf8 = lead_api.client.post(
        "/api/v1/runbooks/file", {"file": latin}, headers=lead_api.headers
    )
    assert not_utf8.status_code == 400 and "not UTF-8" in not_utf8.json()["detail"]
    missing = lead_api.client.post("/api/v1/runbooks/file", {}, headers=lead_api.headers)
    assert missing.status_code == 422
    assert lead_api.post("/api/v1/runbooks", {"filename": "", "markdown": "# x"}).status_code == 422
    assert not RunbookVersion.objects.exists()


def test_a_file_over_the_limit_is_refused_before_it_is_spooled(lead_api, settings):
    """4 MiB sent: the temporary file gets no more than the limit before the upload stops
    (it got all 4 MiB, then a 413, before the size limit was in place on this route)."""
    settings.FILE_UPLOAD_HANDLERS = [
        "django.core.files.uploadhandler.MemoryFileUploadHandler",
        "tests.api.upload_handlers.MeasuredTemporaryFileUploadHandler",
    ]
    MeasuredTemporaryFileUploadHandler.written.clear()
    big = SimpleUploadedFile("big.md", b"# Big\n" + b"x" * (4 * 1024 * 1024), "text/markdown")
    response = lead_api.client.post(
        "/api/v1/runbooks/file", {"file": big}, headers=lead_api.headers
    )
    assert response.status_code == 413, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["detail"].endswith("Nothing was stored.")
    assert 0 < sum(MeasuredTemporaryFileUploadHandler.written) <= MAX_BYTES
    assert not RunbookVersion.objects.exists()
