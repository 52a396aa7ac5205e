"""/api/v1/probes and /api/v1/runbooks: the same permissions as their pages, Run now through
the on-demand path, the runbook tree as `parse_runbook` prints it."""

from __future__ import annotations

import pytest

from probes import ondemand
from probes.models import CheckRequest, Probe
from runbooks.importer import import_runbook
from tests.api.conftest import ApiClient, api_client_for
from tests.probes.servers import http_server, json_answer

RUNBOOK = """# Redis runbook

## Redis unavailable (P1)

**Symptoms**: sessions drop

**Diagnosis**:
1. Check the server: `redis-cli ping`
"""


def make_probe(url: str) -> Probe:
    probe = Probe(name="API health", kind="http", config={"url": url})
    probe.full_clean()
    probe.save()
    return probe


def test_run_now_and_read_the_result(responder):
    api = api_client_for(responder)
    with http_server({"/health": json_answer(200, {"status": "ok"})}) as (base, recorder):
        probe = make_probe(f"{base}/health")
        listing = api.get("/api/v1/probes").json()
        assert [p["name"] for p in listing["items"]] == ["API health"]

        response = api.post(f"/api/v1/probes/{probe.pk}/run")
        assert response.status_code == 202
        check = response.json()
        assert check["probe_id"] == probe.pk
        if check["pending"]:
            # What the worker does with the queued request.
            ondemand.complete_request(check["id"])
        run = api.get(f"/api/v1/probes/{probe.pk}/runs/{check['id']}").json()
    assert recorder.paths == ["/health"]
    assert run["pending"] is False and run["result"]["status"] == "ok"
    results = api.get(f"/api/v1/probes/{probe.pk}/results").json()["items"]
    assert [r["id"] for r in results] == [run["result"]["id"]]
    assert api.get(f"/api/v1/probes/{probe.pk}").json()["state"] == "ok"
    assert CheckRequest.objects.get().requested_by == responder


def test_probe_permissions(outsider, responder):
    probe = make_probe("http://127.0.0.1:9/health")
    assert ApiClient(None).get("/api/v1/probes").status_code == 401
    outsider_api = api_client_for(outsider)
    assert outsider_api.get("/api/v1/probes").status_code == 403
    assert outsider_api.post(f"/api/v1/probes/{probe.pk}/run").status_code == 403
    read_only = api_client_for(responder, read_only=True)
    assert read_only.get(f"/api/v1/probes/{probe.pk}").status_code == 200
    assert read_only.post(f"/api/v1/probes/{probe.pk}/run").status_code == 403
    assert not CheckRequest.objects.exists()
    assert api_client_for(responder).get("/api/v1/probes/99999").status_code == 404


@pytest.fixture
def runbook(lead):
    return import_runbook(RUNBOOK, filename="redis.md", by=lead)


def test_runbooks_versions_and_tree(responder, runbook):
    api = api_client_for(responder)
    listing = api.get("/api/v1/runbooks").json()
    assert len(listing) == 1 and listing[0]["current_version"] == 1
    slug = listing[0]["slug"]
    versions = api.get(f"/api/v1/runbooks/{slug}/versions").json()
    assert [v["number"] for v in versions] == [1] and versions[0]["imported_by"] == "leo"
    tree = api.get(f"/api/v1/runbooks/{slug}/versions/1/tree").json()["tree"]
    assert tree == runbook.version.tree and tree["kind"] == "runbook"
    assert tree["children"][0]["title"] == "Redis runbook"
    assert api.get(f"/api/v1/runbooks/{slug}/versions/2/tree").status_code == 404
    assert api_client_for_outsider_status(slug) == 403


def api_client_for_outsider_status(slug: str) -> int:
    from django.contrib.auth.models import User

    outsider = User.objects.create_user("nogroup")
    return api_client_for(outsider).get(f"/api/v1/runbooks/{slug}/versions").status_code
