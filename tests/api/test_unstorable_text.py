"""Text no database column can hold (NUL, an unpaired surrogate) is a 422 naming the field,
in any JSON body or query string of the API, and nothing is stored: found by the schema test
as a 500 on PUT /api/v1/escalation/policies/P0 with a NUL in a level's channel."""

from __future__ import annotations

import pytest

from incidents.escalation.models import EscalationPolicy
from incidents.models import Incident, TimelineEvent

LADDER = {
    "ack_minutes": 10,
    "levels": [{"name": "Primary", "delay_minutes": 0, "users": ["leo"], "channels": ["email"]}],
}


def raw_post(api, path: str, text: str):
    """A JSON body as the sender wrote it: `\\u0000` and `\\udc00` escapes are valid JSON."""
    return api.client.post(path, text, content_type="application/json", headers=api.headers)


@pytest.mark.parametrize("escape", ["\\u0000", "\\udc00"])
def test_declare_with_unstorable_text_is_422_and_stores_nothing(lead_api, escape):
    response = raw_post(
        lead_api, "/api/v1/incidents", f'{{"title": "Checkout {escape} down", "severity": "P1"}}'
    )
    assert response.status_code == 422, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"] == [
        {"field": "title", "message": "must not contain NUL characters or unpaired surrogates"}
    ]
    assert not Incident.objects.exists()


def test_a_nul_deep_in_a_policy_is_422_and_the_ladder_is_unchanged(lead_api):
    assert lead_api.send("PUT", "/api/v1/escalation/policies/P0", LADDER).status_code == 200
    before = list(EscalationPolicy.objects.values_list("severity", "ack_minutes"))
    bad = {**LADDER, "levels": [{**LADDER["levels"][0], "channels": ["email", "pN\x00"]}]}
    response = lead_api.send("PUT", "/api/v1/escalation/policies/P0", bad)
    assert response.status_code == 422, response.content
    assert response.json()["errors"][0]["field"] == "levels.0.channels.1"
    assert list(EscalationPolicy.objects.values_list("severity", "ack_minutes")) == before


def test_a_key_with_nul_and_a_query_with_nul_are_422(lead_api, incident):
    note = raw_post(lead_api, f"/api/v1/incidents/{incident.pk}/notes", '{"text\\u0000": "x"}')
    assert note.status_code == 422
    assert not TimelineEvent.objects.filter(kind="note_added").exists()
    listed = lead_api.get("/api/v1/incidents", cursor="abc\x00")
    assert listed.status_code == 422 and listed.json()["errors"][0]["field"] == "cursor"
