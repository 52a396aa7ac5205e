"""Escalation pages: permissions, the policy form's validation, rotations and overrides, the
profile, accepting the runbooks' proposed policies, the incident page's panel."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from incidents import actions
from incidents.escalation.models import (
    EscalationPage,
    EscalationPolicy,
    NotificationProfile,
    OnCallRotation,
    RotationMember,
    RotationOverride,
)
from incidents.escalation.tasks import sweep_escalations
from incidents.models import TimelineEvent
from runbooks.importer import import_runbook
from runbooks.models import Proposal
from tests.conftest import HTMX, client_for
from tests.incidents.escalation_helpers import staff_the_ladder
from tests.seeds import needs_seeds, seed_texts

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def level_post(levels: list[dict], ack: int = 15) -> dict:
    data = {
        "ack_minutes": str(ack),
        "levels-TOTAL_FORMS": str(len(levels)),
        "levels-INITIAL_FORMS": "0",
        "levels-MIN_NUM_FORMS": "0",
        "levels-MAX_NUM_FORMS": "8",
    }
    for n, level in enumerate(levels):
        for key, value in level.items():
            data[f"levels-{n}-{key}"] = value
    return data


@pytest.fixture
def rotation(db) -> OnCallRotation:
    return OnCallRotation.objects.get(name="Primary on-call")


# -- permissions -----------------------------------------------------------------------------
PAGES = [
    ("get", "/incidents/escalation/", {"responder": 200, "lead": 200, "outsider": 403}),
    ("get", "/incidents/escalation/P0/edit/", {"responder": 403, "lead": 200, "outsider": 403}),
    ("get", "/incidents/oncall/", {"responder": 200, "lead": 200, "outsider": 403}),
    ("get", "/incidents/oncall/new/", {"responder": 403, "lead": 200, "outsider": 403}),
    ("get", "/incidents/oncall/{rotation}/", {"responder": 403, "lead": 200, "outsider": 403}),
    ("get", "/incidents/profile/", {"responder": 200, "lead": 200, "outsider": 403}),
    ("post", "/incidents/escalation/P0/edit/", {"responder": 403, "outsider": 403}),
    ("post", "/incidents/oncall/{rotation}/", {"responder": 403, "outsider": 403}),
    ("post", "/incidents/oncall/{rotation}/overrides/", {"responder": 403, "outsider": 403}),
    ("post", "/incidents/{incident}/escalate/", {"responder": 403, "outsider": 403}),
    # GET of POST-only views
    ("get", "/incidents/{incident}/escalate/", {"responder": 405, "lead": 405}),
    ("get", "/incidents/oncall/{rotation}/overrides/", {"lead": 405}),
    ("get", "/incidents/oncall/{rotation}/overrides/1/delete/", {"lead": 405}),
]


@pytest.mark.parametrize(
    ("method", "path", "expected"), PAGES, ids=[f"{m} {p}" for m, p, _ in PAGES]
)
def test_permissions(request, method, path, expected, rotation, incident):
    url = path.format(rotation=rotation.pk, incident=incident.pk)
    response = getattr(Client(), method)(url)
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    for who, status in expected.items():
        client = client_for(request.getfixturevalue(who))
        response = getattr(client, method)(url)
        assert response.status_code == status, (who, response.content[:200])
    assert EscalationPage.objects.filter(incident=incident, paged_by__isnull=False).count() == 0


# -- policies --------------------------------------------------------------------------------
def test_policies_page_lists_each_severity_ladder(responder_client):
    response = responder_client.get("/incidents/escalation/")
    body = response.content.decode()
    for severity in ("P0", "P1", "P2", "P3"):
        assert f'id="policy-{severity}"' in body
    assert "Platform lead + senior engineer" in body
    assert "Edit</a>" not in body


def test_lead_edits_a_policy(lead_client, lead, rotation):
    data = level_post(
        [
            {
                "name": "Primary",
                "delay_minutes": "0",
                "rotation": str(rotation.pk),
                "channels": ["email"],
            },
            {"name": "Lead", "delay_minutes": "10", "users": [str(lead.pk)], "channels": ["slack"]},
        ],
        ack=20,
    )
    response = lead_client.post("/incidents/escalation/P1/edit/", data)
    assert response.status_code == 302
    policy = EscalationPolicy.objects.get(severity="P1")
    assert policy.ack_minutes == 20 and policy.updated_by == lead
    levels = list(policy.levels.order_by("position"))
    assert [(lv.position, lv.name, lv.delay_minutes) for lv in levels] == [
        (1, "Primary", 0),
        (2, "Lead", 10),
    ]
    assert list(levels[1].users.all()) == [lead] and levels[1].channels == ["slack"]


@pytest.mark.parametrize(
    ("levels", "message"),
    [
        (
            [
                {
                    "name": "A",
                    "delay_minutes": "30",
                    "group": "",
                    "users": [],
                    "channels": ["email"],
                    "rotation": "R",
                },
                {"name": "B", "delay_minutes": "10", "channels": ["email"], "rotation": "R"},
            ],
            "each level&#x27;s delay at least the one before it",
        ),
        ([{"name": "A", "delay_minutes": "0", "channels": ["email"]}], "Page someone"),
        ([{"name": "A", "delay_minutes": "0", "rotation": "R"}], "Choose at least one channel"),
        (
            [{"name": "A", "delay_minutes": "-5", "rotation": "R", "channels": ["email"]}],
            "greater than or equal to 0",
        ),
        ([], "at least one level"),
    ],
)
def test_bad_policies_are_refused_and_nothing_changes(lead_client, rotation, levels, message):
    for level in levels:
        if level.get("rotation") == "R":
            level["rotation"] = str(rotation.pk)
    before = list(
        EscalationPolicy.objects.get(severity="P0").levels.values_list("name", "delay_minutes")
    )
    response = lead_client.post("/incidents/escalation/P0/edit/", level_post(levels))
    assert response.status_code == 422
    assert message in response.content.decode()
    after = list(
        EscalationPolicy.objects.get(severity="P0").levels.values_list("name", "delay_minutes")
    )
    assert after == before


# -- rotations -------------------------------------------------------------------------------
def test_on_call_follows_the_rotation_and_overrides(groups, lead):
    people = staff_the_ladder()
    rotation = OnCallRotation.objects.create(
        name="Weekly",
        period="weekly",
        handoff_time=time(9, 0),
        timezone="Europe/London",
        starts_on=date(2026, 3, 2),
    )
    for n, name in enumerate(["oncall-olga", "lead-lars"]):
        RotationMember.objects.create(rotation=rotation, user=people[name], position=n)
    london = ZoneInfo("Europe/London")
    at = lambda *a: datetime(*a, tzinfo=london)  # noqa: E731
    assert (
        rotation.on_call_at(at(2026, 3, 2, 8, 59)).username == "lead-lars"
    )  # before start: the last
    assert rotation.on_call_at(at(2026, 3, 2, 9, 0)).username == "oncall-olga"
    assert rotation.on_call_at(at(2026, 3, 9, 8, 59)).username == "oncall-olga"
    assert rotation.on_call_at(at(2026, 3, 9, 9, 0)).username == "lead-lars"
    # Across the clocks going forward (29 March): the handoff stays at 09:00 local.
    assert rotation.on_call_at(at(2026, 3, 30, 8, 59)).username == "lead-lars"
    assert rotation.on_call_at(at(2026, 3, 30, 9, 0)).username == "oncall-olga"
    _, _, end = rotation.shift_at(at(2026, 3, 25, 12, 0))
    assert end == at(2026, 3, 30, 9, 0) and end.utcoffset() == timedelta(hours=1)
    RotationOverride.objects.create(
        rotation=rotation,
        user=people["cto-carmen"],
        starts_at=at(2026, 3, 3, 18, 0),
        ends_at=at(2026, 3, 4, 8, 0),
        created_by=lead,
    )
    assert rotation.on_call_at(at(2026, 3, 3, 20, 0)).username == "cto-carmen"
    assert rotation.on_call_at(at(2026, 3, 4, 8, 0)).username == "oncall-olga"


def test_daily_rotation(groups):
    people = staff_the_ladder()
    rotation = OnCallRotation.objects.create(
        name="Daily",
        period="daily",
        handoff_time=time(18, 0),
        timezone="UTC",
        starts_on=date(2026, 1, 1),
    )
    for n, user in enumerate(people.values()):
        RotationMember.objects.create(rotation=rotation, user=user, position=n)
    utc = UTC
    names = [
        rotation.on_call_at(datetime(2026, 1, d, 19, 0, tzinfo=utc)).username for d in (1, 2, 3, 4)
    ]
    assert names == ["oncall-olga", "lead-lars", "cto-carmen", "oncall-olga"]


def test_lead_edits_a_rotation_and_adds_an_override(lead_client, lead, responder, rotation):
    form = lead_client.get(f"/incidents/oncall/{rotation.pk}/").content.decode()
    # The browser's date and time inputs get ISO values, whatever the locale.
    assert 'type="date" name="starts_on" value="2026-01-05"' in form
    assert 'value="09:00"' in form
    response = lead_client.post(
        f"/incidents/oncall/{rotation.pk}/",
        {
            "name": "Primary on-call",
            "period": "daily",
            "handoff_time": "08:30",
            "timezone": "Europe/Berlin",
            "starts_on": "2026-03-02",
            "members": "rita\nleo",
        },
    )
    assert response.status_code == 302
    rotation.refresh_from_db()
    assert rotation.timezone == "Europe/Berlin" and rotation.period == "daily"
    assert [u.username for u in rotation.ordered_members()] == ["rita", "leo"]
    response = lead_client.post(
        f"/incidents/oncall/{rotation.pk}/overrides/",
        {
            "user": lead.pk,
            "starts_at": "2026-03-03T18:00",
            "ends_at": "2026-03-04T08:00",
            "reason": "swap",
        },
    )
    assert response.status_code == 302
    override = RotationOverride.objects.get(rotation=rotation)
    assert override.starts_at == datetime(2026, 3, 3, 17, 0, tzinfo=UTC)  # Berlin is +1
    assert override.created_by == lead
    with time_machine.travel(datetime(2026, 3, 3, 20, 0, tzinfo=UTC), tick=False):
        body = lead_client.get("/incidents/oncall/").content.decode()
    assert 'data-on-call="leo"' in body and "override" in body


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "Not a known time zone"),
        ({"members": "rita\nnobody-here"}, "No active user named nobody-here"),
        ({"members": "rita\nrita"}, "once"),
    ],
)
def test_bad_rotations_are_refused(lead_client, responder, rotation, data, message):
    post = {
        "name": "Primary on-call",
        "period": "weekly",
        "handoff_time": "09:00",
        "timezone": "UTC",
        "starts_on": "2026-03-02",
        "members": "rita",
        **data,
    }
    response = lead_client.post(f"/incidents/oncall/{rotation.pk}/", post)
    assert response.status_code == 422 and message in response.content.decode()
    rotation.refresh_from_db()
    assert rotation.timezone == "UTC" and rotation.members.count() == 0


def test_an_override_must_end_after_it_starts(lead_client, lead, rotation):
    response = lead_client.post(
        f"/incidents/oncall/{rotation.pk}/overrides/",
        {"user": lead.pk, "starts_at": "2026-03-04T08:00", "ends_at": "2026-03-03T08:00"},
    )
    assert response.status_code == 422 and "must end after it starts" in response.content.decode()
    assert not RotationOverride.objects.exists()


# -- profile ---------------------------------------------------------------------------------
def test_profile_saves_and_validates_the_slack_member_id(responder_client, responder):
    response = responder_client.post(
        "/incidents/profile/", {"email": "", "slack_member_id": "rita"}
    )
    assert response.status_code == 422 and "U024BE7LH" in response.content.decode()
    assert not NotificationProfile.objects.exists()
    response = responder_client.post(
        "/incidents/profile/", {"email": "pager@example.com", "slack_member_id": "U024BE7LH"}
    )
    assert response.status_code == 302
    profile = NotificationProfile.objects.get(user=responder)
    assert (profile.email, profile.slack_member_id) == ("pager@example.com", "U024BE7LH")


# -- proposals from the real runbooks --------------------------------------------------------
def import_seeds(by) -> dict[str, Proposal]:
    for name, text in seed_texts():
        import_runbook(text, filename=name, by=by)
    return {
        p.version.runbook.title: p
        for p in Proposal.objects.filter(kind=Proposal.Kind.ESCALATION_POLICY).select_related(
            "version__runbook"
        )
    }


@needs_seeds
def test_the_severity_table_sets_acknowledgement_targets(lead_client, lead):
    proposals = import_seeds(lead)
    table = next(p for p in proposals.values() if p.payload["levels"][0]["severity"])
    runbook_page = lead_client.get(table.version.get_absolute_url()).content.decode()
    assert f'href="/incidents/escalation/proposals/{table.pk}/"' in runbook_page
    EscalationPolicy.objects.filter(severity="P1").update(ack_minutes=5)
    assert lead_client.get(f"/incidents/escalation/proposals/{table.pk}/").status_code == 200
    response = lead_client.post(f"/incidents/escalation/proposals/{table.pk}/")
    assert response.status_code == 302
    assert dict(EscalationPolicy.objects.values_list("severity", "ack_minutes")) == {
        "P0": 15,
        "P1": 60,
        "P2": 240,
        "P3": 1440,
    }
    table.refresh_from_db()
    assert table.status == "accepted" and table.decided_by == lead
    # Twice: refused, nothing changes.
    response = lead_client.post(f"/incidents/escalation/proposals/{table.pk}/")
    assert response.status_code == 302


@needs_seeds
def test_a_ladder_proposal_is_mapped_onto_a_severity(lead_client, lead, rotation):
    proposals = import_seeds(lead)
    ladder = next(
        p
        for p in proposals.values()
        if len(p.payload["levels"]) == 4 and p.payload["levels"][3]["response_minutes"] == 60
    )
    response = lead_client.get(f"/incidents/escalation/proposals/{ladder.pk}/")
    formset = response.context["formset"]
    assert [f.initial["delay_minutes"] for f in formset.forms[:4]] == [0, 15, 30, 60]
    # Without targets it is refused: a level must page someone.
    data = level_post(
        [
            {
                "name": f.initial["name"],
                "delay_minutes": str(f.initial["delay_minutes"]),
                "channels": ["email"],
            }
            for f in formset.forms[:4]
        ]
    )
    data["severity"] = "P1"
    response = lead_client.post(f"/incidents/escalation/proposals/{ladder.pk}/", data)
    assert response.status_code == 422
    for n in range(4):
        data[f"levels-{n}-rotation"] = str(rotation.pk)
    response = lead_client.post(f"/incidents/escalation/proposals/{ladder.pk}/", data)
    assert response.status_code == 302
    policy = EscalationPolicy.objects.get(severity="P1")
    assert list(policy.levels.values_list("delay_minutes", flat=True)) == [0, 15, 30, 60]
    assert policy.levels.get(position=1).name.startswith("Level 1 · ")
    ladder.refresh_from_db()
    assert ladder.status == "accepted"


def test_responders_cannot_accept_proposals(responder_client):
    assert responder_client.get("/incidents/escalation/proposals/1/").status_code == 403


# -- the incident page -----------------------------------------------------------------------
def test_the_panel_shows_the_ladder_and_escalate_now(groups, lead, lead_client, responder):
    staff_the_ladder()
    with time_machine.travel(T0, tick=False):
        incident = actions.declare_incident(title="DB down", severity="P0", declared_by=responder)
        sweep_escalations()
        body = lead_client.get(f"/incidents/{incident.pk}/").content.decode()
        assert 'id="esc-level-1" data-state="paged"' in body
        assert 'id="esc-level-2" data-state="pending"' in body
        assert "Escalate now" in body
        response = lead_client.post(f"/incidents/{incident.pk}/escalate/", **HTMX)
        assert response.status_code == 204 and response["HX-Trigger"] == "incident-changed"
        assert EscalationPage.objects.get(incident=incident, level=2).paged_by == lead
        event = TimelineEvent.objects.filter(incident=incident, kind="escalation_paged").last()
        assert event.actor == lead
        body = client_for(responder).get(f"/incidents/{incident.pk}/").content.decode()
        assert "Escalate now" not in body
        assert "escalated now" in body
    # Resolved: escalating is refused with a reason.
    actions.change_status(incident, to="resolved", by=lead)
    response = lead_client.post(f"/incidents/{incident.pk}/escalate/", **HTMX)
    assert response.status_code == 409 and "resolved" in response.content.decode()


# -- query counts ----------------------------------------------------------------------------
@pytest.mark.parametrize("size", [2, 60])
def test_policy_and_on_call_pages_queries_do_not_grow(
    lead_client, lead, size, django_assert_num_queries
):
    from django.contrib.auth.models import User

    people = User.objects.bulk_create(User(username=f"oc-{size}-{n}") for n in range(size))
    for p in EscalationPolicy.objects.all():
        for level in p.levels.all():
            level.users.add(*people[:size])
    for r in range(size // 2 or 1):
        rotation = OnCallRotation.objects.create(name=f"R{r}", starts_on=date(2026, 1, 5))
        RotationMember.objects.bulk_create(
            RotationMember(rotation=rotation, user=u, position=n) for n, u in enumerate(people)
        )
        RotationOverride.objects.create(
            rotation=rotation,
            user=people[0],
            created_by=lead,
            starts_at=datetime(2030, 1, 1, tzinfo=UTC),
            ends_at=datetime(2030, 1, 2, tzinfo=UTC),
        )
    # session, user, user permissions, group permissions, policies (+ updated_by), their
    # levels (+ group, rotation), the levels' users
    with django_assert_num_queries(7):
        assert lead_client.get("/incidents/escalation/").status_code == 200
    # session, user, user permissions, group permissions, rotations, members (+ users),
    # current and upcoming overrides (+ users)
    with django_assert_num_queries(7):
        response = lead_client.get("/incidents/oncall/")
    assert response.status_code == 200
    assert len(response.context["cards"]) == (size // 2 or 1) + 1
