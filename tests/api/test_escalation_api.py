"""/api/v1/services, /api/v1/escalation/policies and /api/v1/oncall/rotations: the permission
matrix, the page's messages on refusals, the state the changes leave, ETags, 405s and query
counts at two sizes."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from incidents.escalation.models import EscalationPolicy, OnCallRotation, RotationOverride
from incidents.models import Service
from tests.api.conftest import ROLES, expected_status

LADDER = {
    "ack_minutes": 10,
    "levels": [
        {"name": "Primary", "delay_minutes": 0, "users": ["rita"], "channels": ["email"]},
        {"name": "Leads", "delay_minutes": 15, "group": "Lead", "channels": ["email"]},
    ],
}
LATER = timezone.now() + timedelta(days=2)
OVERRIDE = {
    "user": "leo",
    "starts_at": LATER.isoformat(),
    "ends_at": (LATER + timedelta(hours=8)).isoformat(),
    "reason": "swap",
}

# (method, path, body, expected status by role); {rotation} a rotation of rita and leo with
# one upcoming override {override}. read_only: the lead through a read-only token.
MATRIX = [
    ("GET", "/api/v1/services", None, dict(outsider=403, responder=200, lead=200)),
    ("GET", "/api/v1/escalation/policies", None, dict(outsider=403, responder=200, lead=200)),
    ("GET", "/api/v1/escalation/policies/P1", None, dict(outsider=403, responder=200, lead=200)),
    ("PUT", "/api/v1/escalation/policies/P1", LADDER, dict(outsider=403, responder=403, lead=200)),
    ("GET", "/api/v1/oncall/rotations", None, dict(outsider=403, responder=200, lead=200)),
    (
        "GET",
        "/api/v1/oncall/rotations/{rotation}/overrides",
        None,
        dict(outsider=403, responder=200, lead=200),
    ),
    (
        "POST",
        "/api/v1/oncall/rotations/{rotation}/overrides",
        OVERRIDE,
        dict(outsider=403, responder=403, lead=201),
    ),
    (
        "DELETE",
        "/api/v1/oncall/rotations/{rotation}/overrides/{override}",
        None,
        dict(outsider=403, responder=403, lead=204),
    ),
]


def make_rotation(name: str, members: list, zone: str = "UTC") -> OnCallRotation:
    rotation = OnCallRotation.objects.create(
        name=name, handoff_time=time(9), timezone=zone, starts_on=date(2026, 1, 5)
    )
    for n, user in enumerate(members):
        rotation.members.create(user=user, position=n)
    return rotation


@pytest.fixture
def rotation(responder, lead) -> OnCallRotation:
    rotation = make_rotation("Primary", [responder, lead])
    RotationOverride.objects.create(
        rotation=rotation,
        user=lead,
        starts_at=LATER + timedelta(days=3),
        ends_at=LATER + timedelta(days=4),
        created_by=lead,
    )
    return rotation


def _state() -> tuple:
    return (
        list(EscalationPolicy.objects.values_list("severity", "ack_minutes")),
        list(RotationOverride.objects.values_list("pk", "user_id", "starts_at")),
    )


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "method,path,body,by_role", MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX]
)
def test_permission_matrix(clients, rotation, service, role, method, path, body, by_role):
    override = rotation.overrides.get()
    before = _state()
    response = clients[role].request(
        method, path.format(rotation=rotation.pk, override=override.pk), body
    )
    expected = expected_status(method, role, by_role)
    assert response.status_code == expected, response.content
    if expected >= 400:
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["status"] == expected
        assert _state() == before
    elif method != "GET":
        assert _state() != before


def test_wrong_methods_are_405(lead_api, rotation):
    assert lead_api.post("/api/v1/services", {}).status_code == 405
    assert lead_api.send("DELETE", "/api/v1/escalation/policies/P1").status_code == 405
    assert lead_api.post("/api/v1/escalation/policies/P1", LADDER).status_code == 405
    assert lead_api.post("/api/v1/oncall/rotations", {}).status_code == 405
    path = f"/api/v1/oncall/rotations/{rotation.pk}/overrides"
    assert lead_api.send("PUT", path, OVERRIDE).status_code == 405


def test_services_list_and_etag(lead_api, service):
    Service.objects.create(name="Auth", owner_team="Identity")
    response = lead_api.get("/api/v1/services")
    assert [s["name"] for s in response.json()] == ["Auth", "Payments"]
    assert response.json()[0]["owner_team"] == "Identity"
    again = lead_api.get("/api/v1/services", headers={"If-None-Match": response["ETag"]})
    assert again.status_code == 304


def test_policy_replace_saves_the_ladder_and_reads_back(lead_api, lead, responder):
    default = lead_api.get("/api/v1/escalation/policies/P0").json()
    assert default["levels"] and default["updated_by"] is None
    saved = lead_api.send("PUT", "/api/v1/escalation/policies/P0", LADDER)
    assert saved.status_code == 200, saved.content
    body = saved.json()
    assert body["ack_minutes"] == 10 and body["updated_by"] == "leo"
    assert [(lv["position"], lv["name"]) for lv in body["levels"]] == [(1, "Primary"), (2, "Leads")]
    assert body["levels"][0]["users"] == ["rita"] and body["levels"][1]["group"] == "Lead"
    policy = EscalationPolicy.objects.get(severity="P0")
    assert policy.ack_minutes == 10 and policy.levels.count() == 2
    listed = lead_api.get("/api/v1/escalation/policies").json()
    assert [p["severity"] for p in listed] == ["P0", "P1", "P2", "P3"]
    assert listed[0] == lead_api.get("/api/v1/escalation/policies/P0").json()


def test_policy_refusals_carry_the_forms_messages_and_change_nothing(lead_api, responder):
    lead_api.send("PUT", "/api/v1/escalation/policies/P2", LADDER)
    path = "/api/v1/escalation/policies/P2"
    nobody = lead_api.send(
        "PUT", path, {"ack_minutes": 5, "levels": [{"name": "x", "delay_minutes": 0}]}
    )
    assert nobody.status_code == 422
    assert nobody.json()["errors"][0] == {
        "field": "levels.0.__all__",
        "message": "Page someone: choose people, a group or a rotation.",
    }
    backwards = {
        "ack_minutes": 5,
        "levels": [{**LADDER["levels"][1]}, {**LADDER["levels"][0]}],
    }
    refused = lead_api.send("PUT", path, backwards)
    assert refused.status_code == 422
    assert refused.json()["detail"] == (
        "Levels must come in order: each level's delay at least the one before it."
    )
    ghost = {"ack_minutes": 5, "levels": [{**LADDER["levels"][0], "users": ["ghost"]}]}
    assert lead_api.send("PUT", path, ghost).json()["errors"][0]["field"] == "levels.0.users"
    empty = lead_api.send("PUT", path, {"ack_minutes": 5, "levels": []})
    assert empty.json()["detail"] == "A policy needs at least one level."
    assert lead_api.send("PUT", "/api/v1/escalation/policies/P9", LADDER).status_code == 422
    policy = EscalationPolicy.objects.get(severity="P2")
    assert policy.ack_minutes == 10 and policy.levels.count() == 2


def test_rotations_show_who_is_on_call_and_overrides(lead_api, rotation, responder):
    listed = lead_api.get("/api/v1/oncall/rotations").json()
    assert listed[0]["members"] == ["rita", "leo"]
    assert listed[0]["on_call"] in ("rita", "leo")
    assert [o["user"] for o in listed[0]["overrides"]] == ["leo"]


def test_override_add_in_the_rotations_zone_and_delete(lead_api, lead, responder):
    rotation = make_rotation("Tokyo", [lead], zone="Asia/Tokyo")
    path = f"/api/v1/oncall/rotations/{rotation.pk}/overrides"
    wall = lead_api.post(
        path,
        {"user": "rita", "starts_at": "2030-03-01T09:00:00", "ends_at": "2030-03-01T17:00:00"},
    )
    assert wall.status_code == 201, wall.content
    override = RotationOverride.objects.get(pk=wall.json()["id"])
    assert override.starts_at == datetime(2030, 3, 1, 9, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert wall.json()["starts_at"] == "2030-03-01T00:00:00Z"
    offset = lead_api.post(
        path,
        {"user": "leo", "starts_at": "2030-03-02T00:00:00Z", "ends_at": "2030-03-02T06:00:00Z"},
    )
    assert RotationOverride.objects.get(pk=offset.json()["id"]).starts_at == datetime(
        2030, 3, 2, tzinfo=ZoneInfo("UTC")
    )
    assert [o["id"] for o in lead_api.get(path).json()] == [wall.json()["id"], offset.json()["id"]]

    gone = lead_api.send("DELETE", f"{path}/{override.pk}")
    assert gone.status_code == 204 and not RotationOverride.objects.filter(pk=override.pk).exists()
    assert lead_api.send("DELETE", f"{path}/{override.pk}").status_code == 404


def test_override_refusals(lead_api, rotation):
    path = f"/api/v1/oncall/rotations/{rotation.pk}/overrides"
    before = RotationOverride.objects.count()
    backwards = lead_api.post(path, {**OVERRIDE, "ends_at": OVERRIDE["starts_at"]})
    assert backwards.status_code == 422
    assert backwards.json()["errors"] == [
        {"field": "ends_at", "message": "The override must end after it starts."}
    ]
    ghost = lead_api.post(path, {**OVERRIDE, "user": "ghost"})
    assert ghost.status_code == 422 and ghost.json()["errors"][0]["field"] == "user"
    assert lead_api.post(path, {"user": "leo"}).status_code == 422
    assert lead_api.post("/api/v1/oncall/rotations/999/overrides", OVERRIDE).status_code == 404
    other = make_rotation("Other", [])
    foreign = rotation.overrides.get()
    wrong = lead_api.send("DELETE", f"/api/v1/oncall/rotations/{other.pk}/overrides/{foreign.pk}")
    assert wrong.status_code == 404
    assert RotationOverride.objects.count() == before


@pytest.mark.parametrize("count", [2, 12])
def test_list_queries_do_not_grow(django_assert_num_queries, lead_api, lead, responder, count):
    for n in range(count):
        rotation = make_rotation(f"R{n}", [responder, lead])
        RotationOverride.objects.create(
            rotation=rotation,
            user=lead,
            starts_at=LATER,
            ends_at=LATER + timedelta(hours=1),
            created_by=lead,
        )
        Service.objects.create(name=f"S{n}")
    for severity in ["P0", "P1", "P2"][: 1 + count // 6]:
        lead_api.send("PUT", f"/api/v1/escalation/policies/{severity}", LADDER)
    # The token and the user's permissions come first (3 queries), then the data.
    with django_assert_num_queries(3 + 1):
        lead_api.get("/api/v1/services")
    with django_assert_num_queries(3 + 3):
        lead_api.get("/api/v1/escalation/policies")
    with django_assert_num_queries(3 + 3):
        rotations = lead_api.get("/api/v1/oncall/rotations").json()
    assert len(rotations) == OnCallRotation.objects.count() >= count
