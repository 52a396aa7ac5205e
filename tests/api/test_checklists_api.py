"""Checklists through the API: attach a scenario, tick, reopen, skip with a reason, note a
step; each writes its timeline event, with the Runbooks panel's permission."""

from __future__ import annotations

from tests.api.conftest import api_client_for
from tests.runbooks.test_checklists import cache_scenario


def test_follow_a_checklist(responder, outsider, incident):
    scenario = cache_scenario()
    api = api_client_for(responder)
    base = f"/api/v1/incidents/{incident.pk}/checklists"
    assert api_client_for(outsider).post(base, {"scenario_id": scenario.pk}).status_code == 403
    attached = api.post(base, {"scenario_id": scenario.pk})
    assert attached.status_code == 201
    run = attached.json()
    assert run["scenario_id"] == scenario.pk and run["steps"]
    first, second = run["steps"][0]["id"], run["steps"][1]["id"]

    done = api.post(f"{base}/steps/{first}/done")
    assert done.status_code == 200 and done.json()["state"] == "done"
    assert done.json()["changed_by"] == "rita"
    assert api.post(f"{base}/steps/{first}/reopen").json()["state"] == "pending"

    empty = api.post(f"{base}/steps/{second}/skip", {"reason": "  "})
    assert empty.status_code == 422
    assert empty.json()["detail"] == "Give a reason for skipping this step."
    skipped = api.post(f"{base}/steps/{second}/skip", {"reason": "no replica here"})
    assert skipped.json()["state"] == "skipped"
    assert skipped.json()["skip_reason"] == "no replica here"
    api.post(f"{base}/steps/{first}/done")
    refused = api.post(f"{base}/steps/{first}/skip", {"reason": "changed my mind"})
    assert refused.status_code == 409 and "reopen it before skipping it" in refused.json()["detail"]

    note = api.post(f"{base}/steps/{first}/notes", {"text": "hit rate back at 96%"})
    assert note.status_code == 201 and note.json()["kind"] == "step_noted"
    kinds = list(incident.events.values_list("kind", flat=True))
    assert {"checklist_attached", "step_done", "step_reopened", "step_skipped"} <= set(kinds)
    assert api.get(base).json()[0]["id"] == run["id"]
    assert api.post(f"{base}/steps/999999/done").status_code == 404
