"""Checklist runs: attach, tick, reopen, skip, note; the endpoints and the incident page panel."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth.models import Permission, User
from django.db import IntegrityError, connection, transaction
from django.test import Client

from incidents import actions
from incidents.actions import ActionError
from incidents.models import Incident, TimelineEvent
from runbooks import checklists
from runbooks.importer import import_runbook
from runbooks.models import ChecklistRun, Scenario, StepRun
from tests.conftest import HTMX, client_for
from tests.seeds import SEEDS

REDIS_SEED = SEEDS / "000_324968b38d460266.txt"

# A small runbook of our own: a scenario with a nested step, a stand-alone code block and a
# branch. Its steps, in order: 0 memory, 1 ping, 2 (depth 1) from the app host, 3 logs,
# 4 "Run:" the code block, 5 restart, 6 tell the team.
CACHE_RUNBOOK = """# Cache runbook

## Cache Node Unreachable

### Symptoms
- Sessions drop for logged-in users

### Diagnosis
1. Check memory with `redis-cli info memory`
2. Ping the node
   - from the app host
3. Read the node's logs

```bash
redis-cli -h $CACHE_HOST ping
```

### Resolution
**If the node is down**:
1. Restart the node
2. Tell the team in #ops
"""


CODE = "redis-cli -h $CACHE_HOST ping\n"


def cache_scenario(text: str = CACHE_RUNBOOK) -> Scenario:
    return import_runbook(text, filename="cache.md").version.scenarios.get()


@pytest.fixture
def scenario(db) -> Scenario:
    return cache_scenario()


@pytest.fixture
def run(incident, responder, scenario) -> ChecklistRun:
    return checklists.attach_scenario(incident, scenario, by=responder)


def steps_of(run: ChecklistRun) -> list[StepRun]:
    return list(run.steps.select_related("run__scenario").order_by("position"))


def new_events(incident: Incident, since: int) -> list[TimelineEvent]:
    return list(incident.events.filter(id__gt=since).order_by("id"))


def last_event_id(incident: Incident) -> int:
    return incident.events.order_by("-id").values_list("id", flat=True).first() or 0


# -- actions ---------------------------------------------------------------------------------


def test_attach_copies_the_steps_and_writes_one_event(incident, responder, scenario):
    before = last_event_id(incident)

    run = checklists.attach_scenario(incident, scenario, by=responder)

    steps = steps_of(run)
    assert [(s.position, s.depth, s.group, s.text) for s in steps] == [
        (0, 0, "Diagnosis", "Check memory with `redis-cli info memory`"),
        (1, 0, "Diagnosis", "Ping the node"),
        (2, 1, "Diagnosis", "from the app host"),
        (3, 0, "Diagnosis", "Read the node's logs"),
        (4, 0, "Diagnosis", "Run:"),
        (5, 0, "Resolution › If the node is down", "Restart the node"),
        (6, 0, "Resolution › If the node is down", "Tell the team in #ops"),
    ]
    assert steps[4].code == [
        {
            "type": "code",
            "lang": "bash",
            "info": "bash",
            "content": "redis-cli -h $CACHE_HOST ping\n",
        }
    ]
    assert all(s.state == StepRun.State.PENDING for s in steps)
    assert run.scenario.version_id == scenario.version_id
    [event] = new_events(incident, before)
    assert event.kind == TimelineEvent.Kind.CHECKLIST_ATTACHED
    assert event.actor == responder
    assert event.data["run_id"] == run.pk
    assert event.data["scenario_id"] == scenario.pk
    assert event.data["steps"] == 7
    assert event.text == "attached 'Cache Node Unreachable' (Cache runbook v1, 7 steps)"


def test_several_runs_per_incident_but_not_the_same_scenario_twice(incident, responder, scenario):
    other = import_runbook(
        "# Deploys\n\n## Roll back\n\n1. Pick the last good build\n2. Deploy it\n",
        filename="deploys.md",
    ).version.scenarios.get()
    checklists.attach_scenario(incident, scenario, by=responder)
    checklists.attach_scenario(incident, other, by=responder)
    before = last_event_id(incident)
    with pytest.raises(ActionError, match="already attached"):
        checklists.attach_scenario(incident, scenario, by=responder)
    assert incident.checklist_runs.count() == 2
    assert new_events(incident, before) == []


def test_attach_is_refused_on_a_resolved_incident(incident, lead, scenario):
    actions.change_status(incident, to="resolved", by=lead)
    with pytest.raises(ActionError, match="resolved"):
        checklists.attach_scenario(incident, scenario, by=lead)
    assert not ChecklistRun.objects.exists()


def test_tick_writes_one_event_and_a_second_tick_is_a_no_op(run, incident, responder, lead):
    step = steps_of(run)[0]
    before = last_event_id(incident)

    event = checklists.complete_step(step, by=responder)

    step.refresh_from_db()
    assert step.state == StepRun.State.DONE
    assert step.changed_by == responder and step.changed_at is not None
    assert new_events(incident, before) == [event]
    assert event.kind == TimelineEvent.Kind.STEP_DONE
    assert event.text == "ticked 'Check memory with redis-cli info memory'"
    assert event.data == {
        "run_id": run.pk,
        "step_id": step.pk,
        "position": 0,
        "step": "Check memory with redis-cli info memory",
        "scenario": "Cache Node Unreachable",
    }

    # A colleague ticks the same step a moment later: no error, no event, first tick kept.
    assert checklists.complete_step(step, by=lead) is None
    step.refresh_from_db()
    assert step.changed_by == responder
    assert new_events(incident, before) == [event]


def test_run_steps_are_named_by_their_command(run, incident, responder):
    step = steps_of(run)[4]
    event = checklists.complete_step(step, by=responder)
    assert event.text == "ticked 'Run: redis-cli -h $CACHE_HOST ping'"


def test_reopen_puts_a_step_back_once(run, incident, responder):
    step = steps_of(run)[1]
    checklists.complete_step(step, by=responder)
    before = last_event_id(incident)

    event = checklists.reopen_step(step, by=responder)

    assert event.kind == TimelineEvent.Kind.STEP_REOPENED
    assert event.text == "reopened 'Ping the node'"
    step.refresh_from_db()
    assert step.state == StepRun.State.PENDING
    assert checklists.reopen_step(step, by=responder) is None
    assert new_events(incident, before) == [event]


def test_skip_needs_a_reason(run, incident, responder):
    step = steps_of(run)[3]
    before = last_event_id(incident)
    for reason in ("", "   \n"):
        with pytest.raises(ActionError, match="why"):
            checklists.skip_step(step, reason=reason, by=responder)
    step.refresh_from_db()
    assert step.state == StepRun.State.PENDING
    assert new_events(incident, before) == []
    # The database refuses it too, whatever code gets there.
    with pytest.raises(IntegrityError), transaction.atomic():
        StepRun.objects.filter(pk=step.pk).update(state=StepRun.State.SKIPPED)


def test_skip_records_the_reason_once(run, incident, responder, lead):
    step = steps_of(run)[3]
    before = last_event_id(incident)

    event = checklists.skip_step(step, reason="  logs are in the outage too ", by=responder)

    step.refresh_from_db()
    assert step.state == StepRun.State.SKIPPED
    assert step.skip_reason == "logs are in the outage too"
    assert event.kind == TimelineEvent.Kind.STEP_SKIPPED
    assert event.text == "skipped 'Read the node's logs': logs are in the outage too"
    assert event.data["reason"] == "logs are in the outage too"
    assert event.data["step_id"] == step.pk
    assert checklists.skip_step(step, reason="again", by=lead) is None
    assert new_events(incident, before) == [event]

    # Done after all: ticking a skipped step clears the reason.
    checklists.complete_step(step, by=lead)
    step.refresh_from_db()
    assert (step.state, step.skip_reason, step.changed_by) == ("done", "", lead)


def test_a_done_step_must_be_reopened_before_skipping(run, incident, responder):
    step = steps_of(run)[0]
    checklists.complete_step(step, by=responder)
    before = last_event_id(incident)
    with pytest.raises(ActionError, match="reopen it"):
        checklists.skip_step(step, reason="not needed", by=responder)
    step.refresh_from_db()
    assert step.state == StepRun.State.DONE
    assert new_events(incident, before) == []


def test_a_step_note_is_only_an_event(run, incident, responder):
    step = steps_of(run)[1]
    before = last_event_id(incident)

    event = checklists.annotate_step(step, text=" answers in 2 ms from web-1 ", by=responder)

    assert new_events(incident, before) == [event]
    assert event.kind == TimelineEvent.Kind.STEP_NOTED
    assert event.text == "answers in 2 ms from web-1"
    assert event.data["step_id"] == step.pk and event.data["run_id"] == run.pk
    step.refresh_from_db()
    assert step.state == StepRun.State.PENDING and step.changed_by is None
    with pytest.raises(ActionError):
        checklists.annotate_step(step, text="  ", by=responder)


def test_reimporting_the_runbook_leaves_a_running_checklist_alone(run, incident, responder):
    first = steps_of(run)[0]
    checklists.complete_step(first, by=responder)
    snapshot = [(s.pk, s.position, s.text, s.code, s.state) for s in steps_of(run)]

    changed = CACHE_RUNBOOK.replace("Restart the node", "Fail over to the replica").replace(
        "2. Tell the team in #ops", "2. Tell the team in #ops\n3. Open a ticket with the host"
    )
    result = import_runbook(changed, filename="cache.md")

    assert result.created and result.version.number == 2
    assert result.version.runbook.current_version == result.version
    run.refresh_from_db()
    assert run.scenario.version.number == 1
    assert [(s.pk, s.position, s.text, s.code, s.state) for s in steps_of(run)] == snapshot
    # and ticking goes on against the version it started with
    checklists.complete_step(steps_of(run)[5], by=responder)
    assert steps_of(run)[5].text == "Restart the node"


@pytest.mark.skipif(not REDIS_SEED.exists(), reason=f"{REDIS_SEED} is not here")
def test_attach_the_redis_scenario_from_the_team_runbook(incident, responder):
    version = import_runbook(REDIS_SEED.read_bytes(), filename=REDIS_SEED.name).version
    scenario = version.scenarios.get(title="Redis Connection Issues")
    run = checklists.attach_scenario(incident, scenario, by=responder)
    steps = steps_of(run)
    assert len(steps) > 10
    assert {s.group.split(" › ")[0] for s in steps} == {"Diagnosis", "Resolution"}
    assert any(s.code for s in steps)
    assert any(s.depth == 1 for s in steps)


# -- concurrency (PostgreSQL: real row locks and concurrent transactions) --------------------


def run_in_threads(*calls) -> list:
    """Run each call in its own thread (own connection), started together; their results."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    errors: list[BaseException] = []

    def work(index: int, call) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return results


@pytest.mark.django_db(transaction=True)
def test_two_responders_ticking_different_steps_at_once_both_land(
    transactional_db, responder, lead
):
    incident = actions.declare_incident(title="Cache down", severity="P1", declared_by=responder)
    run = checklists.attach_scenario(incident, cache_scenario(), by=responder)
    first, second = steps_of(run)[:2]
    before = last_event_id(incident)

    events = run_in_threads(
        lambda: checklists.complete_step(first, by=responder),
        lambda: checklists.complete_step(second, by=lead),
    )

    assert all(e is not None for e in events)
    assert {(s.pk, s.state) for s in steps_of(run)[:2]} == {(first.pk, "done"), (second.pk, "done")}
    written = new_events(incident, before)
    assert sorted(e.data["step_id"] for e in written) == sorted([first.pk, second.pk])


@pytest.mark.django_db(transaction=True)
def test_two_responders_ticking_the_same_step_at_once_write_one_event(
    transactional_db, responder, lead
):
    incident = actions.declare_incident(title="Cache down", severity="P1", declared_by=responder)
    run = checklists.attach_scenario(incident, cache_scenario(), by=responder)
    step = steps_of(run)[0]
    before = last_event_id(incident)

    events = run_in_threads(
        lambda: checklists.complete_step(step, by=responder),
        lambda: checklists.complete_step(step, by=lead),
    )

    assert sum(e is not None for e in events) == 1
    assert len(new_events(incident, before)) == 1


# -- endpoints -------------------------------------------------------------------------------

ANON, OUTSIDER, RESPONDER, LEAD = "anon", "outsider", "responder", "lead"
# (name, path under /incidents/<pk>/, data, state the step must be in first)
ENDPOINTS = [
    ("attach", "checklists/", {"scenario": "{other}"}, None),
    ("done", "checklists/steps/{step}/done/", {}, "pending"),
    ("reopen", "checklists/steps/{step}/reopen/", {}, "done"),
    ("skip", "checklists/steps/{step}/skip/", {"reason": "not our stack"}, "pending"),
    ("note", "checklists/steps/{step}/note/", {"text": "looks fine"}, "pending"),
]
ENDPOINT_ARGS = ("name", "path", "data", "state")
EXPECTED = {OUTSIDER: 403, RESPONDER: 204, LEAD: 204}


@pytest.fixture
def other_scenario(db) -> Scenario:
    return import_runbook(
        "# Deploys\n\n## Roll back\n\n1. Pick the last good build\n2. Deploy it\n",
        filename="deploys.md",
    ).version.scenarios.get()


@pytest.mark.parametrize(
    ("name", "path", "data", "state"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS]
)
@pytest.mark.parametrize("who", [ANON, OUTSIDER, RESPONDER, LEAD])
def test_permission_matrix(request, run, incident, other_scenario, who, name, path, data, state):
    step = steps_of(run)[0]
    if state == "done":
        checklists.complete_step(step, by=run.attached_by)
    url = f"/incidents/{incident.pk}/" + path.format(step=step.pk)
    data = {k: v.format(other=other_scenario.pk) for k, v in data.items()}
    client = Client() if who == ANON else client_for(request.getfixturevalue(who))
    before = last_event_id(incident)

    response = client.post(url, data, **HTMX)

    if who == ANON:
        assert response.status_code == 302
        assert response["Location"].startswith("/login/?next=")
    else:
        assert response.status_code == EXPECTED[who], response.content[:200]
    written = new_events(incident, before)
    if response.status_code == 204:
        assert response["HX-Trigger"] == "incident-changed"
        assert len(written) == 1
    else:
        assert written == []


@pytest.mark.parametrize(
    ("name", "path", "data", "state"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS]
)
def test_endpoints_are_post_only(responder_client, run, incident, name, path, data, state):
    url = f"/incidents/{incident.pk}/" + path.format(step=steps_of(run)[0].pk)
    assert responder_client.get(url).status_code == 405


@pytest.mark.parametrize(
    ("name", "path", "data", "state"), ENDPOINTS[1:], ids=[e[0] for e in ENDPOINTS[1:]]
)
def test_a_step_of_another_incident_is_not_found(
    responder_client, responder, run, name, path, data, state
):
    elsewhere = actions.declare_incident(title="Other one", severity="P3", declared_by=responder)
    url = f"/incidents/{elsewhere.pk}/" + path.format(step=steps_of(run)[0].pk)
    before = TimelineEvent.objects.count()
    response = responder_client.post(url, data, **HTMX)
    assert response.status_code == 404
    assert TimelineEvent.objects.count() == before


def test_skip_without_a_reason_is_a_400_with_the_message(responder_client, run, incident):
    step = steps_of(run)[0]
    url = f"/incidents/{incident.pk}/checklists/steps/{step.pk}/skip/"
    before = last_event_id(incident)

    response = responder_client.post(url, {"reason": "  "}, **HTMX)
    assert response.status_code == 400
    assert response.content.decode() == "Give a reason for skipping this step."
    # Without JavaScript: the page itself, with the message and the real status.
    response = responder_client.post(url, {})
    assert response.status_code == 400
    assert "Give a reason for skipping this step." in response.content.decode()
    step.refresh_from_db()
    assert step.state == "pending"
    assert new_events(incident, before) == []


def test_an_empty_note_is_a_400(responder_client, run, incident):
    url = f"/incidents/{incident.pk}/checklists/steps/{steps_of(run)[0].pk}/note/"
    response = responder_client.post(url, {"text": ""}, **HTMX)
    assert response.status_code == 400
    assert "Write something" in response.content.decode()


def test_skipping_a_done_step_is_a_409(responder_client, responder, run, incident):
    step = steps_of(run)[0]
    checklists.complete_step(step, by=responder)
    url = f"/incidents/{incident.pk}/checklists/steps/{step.pk}/skip/"
    response = responder_client.post(url, {"reason": "meh"}, **HTMX)
    assert response.status_code == 409
    assert "reopen it before skipping" in response.content.decode()


def test_ticking_twice_through_the_endpoint_answers_204_and_writes_one_event(
    responder_client, run, incident
):
    step = steps_of(run)[0]
    url = f"/incidents/{incident.pk}/checklists/steps/{step.pk}/done/"
    before = last_event_id(incident)
    assert responder_client.post(url, **HTMX).status_code == 204
    assert responder_client.post(url, **HTMX).status_code == 204
    assert len(new_events(incident, before)) == 1


def test_plain_posts_redirect_back_to_the_step(responder_client, run, incident, other_scenario):
    step = steps_of(run)[0]
    response = responder_client.post(f"/incidents/{incident.pk}/checklists/steps/{step.pk}/done/")
    assert response.status_code == 302
    assert response["Location"] == f"/incidents/{incident.pk}/#step-{step.pk}"
    response = responder_client.post(
        f"/incidents/{incident.pk}/checklists/", {"scenario": other_scenario.pk}
    )
    new_run = incident.checklist_runs.get(scenario=other_scenario)
    assert response["Location"] == f"/incidents/{incident.pk}/#run-{new_run.pk}"


def test_attach_refusals(responder_client, run, incident, scenario):
    url = f"/incidents/{incident.pk}/checklists/"
    response = responder_client.post(url, {"scenario": ""}, **HTMX)
    assert response.status_code == 400
    response = responder_client.post(url, {"scenario": "999999"}, **HTMX)
    assert response.status_code == 404
    response = responder_client.post(url, {"scenario": scenario.pk}, **HTMX)
    assert response.status_code == 409
    assert "already attached" in response.content.decode()


# -- the panel on the incident page ----------------------------------------------------------


def test_the_page_suggests_then_shows_the_attached_run(responder_client, responder, incident):
    scenario = cache_scenario()
    incident.title = "Cache node unreachable from web-1"
    incident.save(update_fields=["title"])

    body = responder_client.get(incident.get_absolute_url()).content.decode()
    assert 'id="checklists"' in body
    assert "Cache Node Unreachable" in body
    assert f'name="scenario" value="{scenario.pk}"' in body

    run = checklists.attach_scenario(incident, scenario, by=responder)
    steps = steps_of(run)
    checklists.complete_step(steps[0], by=responder)
    checklists.skip_step(steps[3], reason="logs are down too", by=responder)
    checklists.annotate_step(steps[1], text="no answer from web-1", by=responder)

    body = responder_client.get(incident.get_absolute_url()).content.decode()
    # attached: no longer offered as a suggestion, and disabled in the other-runbooks list
    assert f'name="scenario" value="{scenario.pk}"' not in body
    assert f'<option value="{scenario.pk}" disabled>' in body
    assert f'id="run-{run.pk}"' in body
    assert body.count('class="cl-step ') == 7
    assert "2/7" in body and "1 done" in body and "1 skipped" in body and "5 to do" in body
    assert body.count('class="cl-seg is-done"') == 1
    assert body.count('class="cl-seg is-skipped"') == 1
    assert body.count('class="cl-seg is-pending"') == 5
    assert '<h3 class="cl-group">Resolution › If the node is down</h3>' in body
    assert "<code>redis-cli info memory</code>" in body
    assert "redis-cli" in body and "CACHE_HOST" in body  # the code block, highlighted
    assert f"done by <strong>{responder.username}</strong>" in body
    assert "logs are down too" in body
    assert "no answer from web-1" in body
    assert 'class="cl-step is-pending cl-depth-1"' in body
    # the timeline tells the same story
    assert 'ticked <a class="step-ref"' in body
    assert 'skipped <a class="step-ref"' in body
    assert 'noted on <a class="step-ref"' in body


def test_the_poll_swaps_the_panel_out_of_band(responder_client, responder, run, incident):
    since = incident.events.order_by("id").first().pk
    checklists.complete_step(steps_of(run)[0], by=responder)
    response = responder_client.get(f"/incidents/{incident.pk}/timeline/?since={since}", **HTMX)
    body = response.content.decode()
    assert '<section id="checklists" class="checklists" data-checklists' in body
    assert 'aria-labelledby="checklists-title" hx-swap-oob="true">' in body
    assert "1/7" in body


def test_step_text_is_sanitised(incident, responder, responder_client):
    text = (
        "# Evil\n\n## Evil Scenario\n\n### Diagnosis\n"
        '1. Click <script>alert(1)</script> [here](javascript:alert(2)) <img src=x onerror="x()">\n'
    )
    scenario = import_runbook(text, filename="evil.md").version.scenarios.get()
    checklists.attach_scenario(incident, scenario, by=responder)
    body = responder_client.get(incident.get_absolute_url()).content.decode()
    panel = body[body.index('id="checklists"') :]
    assert "<script>alert" not in panel
    assert 'href="javascript' not in panel
    assert "<img" not in panel and "onerror" not in panel


def test_viewers_without_the_permission_see_no_buttons(lead, run, incident):
    body = client_for(lead).get(incident.get_absolute_url()).content.decode()
    assert 'class="cl-tick-form"' in body
    # Every group may follow runbooks; a user with only the view permission may not.
    viewer = User.objects.create_user("vic", password="x")
    viewer.user_permissions.add(Permission.objects.get(codename="view_incident"))
    body = client_for(viewer).get(incident.get_absolute_url()).content.decode()
    assert 'class="cl-step ' in body
    assert 'class="cl-tick-form"' not in body
    assert "Attach" not in body[body.index('id="checklists"') :]


def test_a_resolved_incident_offers_nothing_to_attach(lead_client, lead, incident):
    cache_scenario()
    actions.change_status(incident, to="resolved", by=lead)
    body = lead_client.get(incident.get_absolute_url()).content.decode()
    panel = body[body.index('id="checklists"') :]
    assert "cl-suggest" not in panel
    assert "No runbook was followed in this incident." in panel
