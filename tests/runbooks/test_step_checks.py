"""Steps that check themselves: proposed on import, accepted once per runbook, run from the
incident's checklist through a real worker (or in the request when the broker is down), the
result inline and on the timeline, and the step ticked from a passing result."""

from __future__ import annotations

import re
import time

import pytest
from celery.contrib.testing.worker import start_worker

from console.celery import app
from incidents import actions
from incidents.actions import ActionError
from incidents.models import TimelineEvent
from probes import proposals
from probes.models import CheckRequest, Probe, ProbeResult, StepCheck
from runbooks import checklists
from runbooks.importer import import_runbook
from runbooks.models import Proposal
from tests.conftest import client_for
from tests.probes.servers import http_server, json_answer

Kind = TimelineEvent.Kind
HX = {"HTTP_HX_REQUEST": "true"}


def runbook_text(base: str, extra: str = "") -> str:
    return (
        "# Cache runbook\n\n## Cache Down\n\n### Symptoms\n- Pages time out\n\n"
        "### Diagnosis\n1. Check the health endpoint:\n   ```bash\n"
        f"   curl -f {base}/health\n   ```\n"
        "2. Look at the logs for timeouts\n"
        "3. Count connections:\n   ```sql\n   SELECT count(*) FROM pg_stat_activity;\n   ```\n"
        f"{extra}"
    )


def accept_checks(version, by) -> list[Probe]:
    return proposals.accept(version.proposals.get(kind=Proposal.Kind.STEP_CHECKS), by=by)


@pytest.fixture
def health():
    answers = {"status": 200}

    def route(handler):
        return json_answer(answers["status"], {"status": "healthy"})(handler)

    with http_server({"/health": route}) as (base, recorder):
        yield base, answers, recorder


@pytest.fixture
def checked_run(health, incident, lead, responder):
    """The incident following a runbook whose first step's curl is a bound check."""
    base, _, _ = health
    version = import_runbook(runbook_text(base), filename="cache.md", by=lead).version
    accept_checks(version, lead)
    run = checklists.attach_scenario(incident, version.scenarios.get(), by=responder)
    step = run.steps.get(position=0)
    assert step.check_key
    return run, step


def test_import_proposes_the_checks_and_accepting_binds_them_once(db, lead):
    version = import_runbook(
        runbook_text("https://status.acme-shop.io"), filename="cache.md", by=lead
    ).version
    proposal = version.proposals.get(kind=Proposal.Kind.STEP_CHECKS)
    checks = proposal.payload["checks"]
    assert [c["kind"] for c in checks] == ["http", "postgres"]
    assert checks[0]["steps"][0]["scenario"] == "Cache Down"
    assert "curl -f https://status.acme-shop.io/health" in checks[0]["command"]
    assert not Probe.objects.exists()  # proposed, not created

    created = accept_checks(version, lead)
    assert {p.kind for p in created} == {"http", "postgres"}
    assert all(not p.enabled for p in created)  # run on demand until a lead schedules them
    assert StepCheck.objects.filter(runbook=version.runbook).count() == 2
    proposal.refresh_from_db()
    assert proposal.status == "accepted" and proposal.decided_by == lead
    with pytest.raises(ActionError, match="already accepted"):
        proposals.accept(proposal, by=lead)

    # A new version with the same commands proposes nothing more; a new command is proposed.
    again = import_runbook(
        runbook_text("https://status.acme-shop.io", "\nChanged.\n"), filename="cache.md", by=lead
    )
    assert again.created and not again.version.proposals.filter(kind="step_checks").exists()
    extra = "4. Ping Redis:\n   ```bash\n   redis-cli ping\n   ```\n"
    third = import_runbook(
        runbook_text("https://status.acme-shop.io", extra), filename="cache.md", by=lead
    ).version
    [check] = third.proposals.get(kind="step_checks").payload["checks"]
    assert check["kind"] == "redis"


def test_a_probe_is_shared_by_runbooks_running_the_same_check(db, lead):
    one = import_runbook(runbook_text("https://a.acme-shop.io"), filename="one.md").version
    two = import_runbook(
        runbook_text("https://a.acme-shop.io").replace("Cache runbook", "Other"), filename="two.md"
    ).version
    assert len(accept_checks(one, lead)) == 2
    assert accept_checks(two, lead) == []
    assert Probe.objects.count() == 2 and StepCheck.objects.count() == 4


def test_accepting_and_dismissing_need_permissions(db, lead, responder):
    version = import_runbook(
        runbook_text("https://status.acme-shop.io"), filename="cache.md", by=lead
    ).version
    proposal = version.proposals.get(kind="step_checks")
    for url in (
        f"/runbooks/proposals/{proposal.pk}/accept/",
        f"/runbooks/proposals/{proposal.pk}/dismiss/",
    ):
        assert client_for(responder).post(url).status_code == 403
    page = client_for(responder).get(version.get_absolute_url()).content.decode()
    assert f'id="proposal-{proposal.pk}-accept"' not in page
    lead_client = client_for(lead)
    page = lead_client.get(version.get_absolute_url()).content.decode()
    assert f'id="proposal-{proposal.pk}-accept"' in page
    response = lead_client.post(f"/runbooks/proposals/{proposal.pk}/accept/", follow=True)
    assert "2 step checks bound" in response.content.decode()
    assert Probe.objects.count() == 2
    # Deciding twice is refused with a message; nothing changes.
    response = lead_client.post(f"/runbooks/proposals/{proposal.pk}/dismiss/", follow=True)
    assert "already decided" in response.content.decode()
    proposal.refresh_from_db()
    assert proposal.status == "accepted"


def test_probe_proposals_from_a_metrics_table_map_to_probe_kinds(db, lead):
    text = (
        "# Ops\n\n## Monitoring\n\n### Key Metrics\n\n"
        "| Metric | Normal Range | Alert Threshold |\n|---|---|---|\n"
        "| Database Connections | < 50 | > 80 |\n| Payment Success Rate | > 95% | < 90% |\n"
        "| Click Processing Lag | < 1s | > 5s |\n"
    )
    version = import_runbook(text, filename="ops.md", by=lead).version
    by_title = {p.title: p for p in version.proposals.filter(kind="probe")}
    assert set(by_title) == {"Database Connections", "Payment Success Rate", "Click Processing Lag"}
    [db_probe] = proposals.accept(by_title["Database Connections"], by=lead)
    assert db_probe.kind == "postgres"
    assert (db_probe.config["connections_warn"], db_probe.config["connections_crit"]) == (50, 80)
    [stripe_probe] = proposals.accept(by_title["Payment Success Rate"], by=lead)
    assert stripe_probe.kind == "stripe" and stripe_probe.config["success_rate_min"] == 90
    # Nothing here measures click lag: no Accept, only Dismiss.
    assert not proposals.acceptable(by_title["Click Processing Lag"])
    with pytest.raises(ActionError):
        proposals.accept(by_title["Click Processing Lag"], by=lead)


def test_the_panel_offers_run_check_on_bound_steps_only(checked_run, incident, responder):
    run, step = checked_run
    page = client_for(responder).get(incident.get_absolute_url()).content.decode()
    assert f'id="step-{step.pk}-run-check"' in page
    assert len(re.findall(r'id="step-\d+-check"', page)) == 2  # the curl and the SQL step
    unbound = run.steps.get(position=1)
    assert f'id="step-{unbound.pk}-run-check"' not in page


@pytest.mark.django_db(transaction=True)
def test_run_check_runs_in_the_request_when_the_broker_is_down(
    dead_broker, checked_run, incident, responder
):
    run, step = checked_run
    client = client_for(responder)
    response = client.post(f"/incidents/{incident.pk}/checklists/steps/{step.pk}/check/", **HX)
    assert response.status_code == 200
    fragment = response.content.decode()
    assert "Ran in this request: the task queue is unavailable." in fragment
    assert "hx-trigger" not in fragment  # finished: nothing to poll
    assert response["HX-Trigger"] == "incident-changed"
    result = ProbeResult.objects.get()
    assert result.status == "ok" and result.source == "inline"
    event = incident.events.get(kind=Kind.PROBE_RESULT)
    assert event.actor == responder and event.data["step_id"] == step.pk
    assert event.data["latency_ms"] == result.latency_ms and event.data["inline"] is True
    assert "OK" in event.text and "Check the health endpoint" in event.text


@pytest.mark.django_db(transaction=True)
def test_run_check_goes_through_a_worker_and_ticks_from_the_passing_result(health, groups):
    from tests.conftest import make_user

    responder = make_user("rita", "Responder")
    lead = make_user("leo", "Lead")
    base, _, recorder = health
    incident = actions.declare_incident(title="Cache down", severity="P1", declared_by=responder)
    version = import_runbook(runbook_text(base), filename="cache.md", by=lead).version
    accept_checks(version, lead)
    run = checklists.attach_scenario(incident, version.scenarios.get(), by=responder)
    step = run.steps.get(position=0)
    client = client_for(responder)
    url = f"/incidents/{incident.pk}/checklists/steps/{step.pk}/check/"

    app.control.purge()
    with start_worker(app, pool="solo", concurrency=1, perform_ping_check=False):
        response = client.post(url, **HX)
        assert response.status_code == 200
        fragment = response.content.decode()
        # Either still running (then the fragment polls its status) or already done.
        request = CheckRequest.objects.get()
        assert not request.inline
        if "Running…" in fragment:
            assert f'hx-get="{url}status/"' in fragment and 'hx-trigger="every 1s"' in fragment
        deadline = time.monotonic() + 30
        while CheckRequest.objects.get().pending and time.monotonic() < deadline:
            time.sleep(0.1)
    request = CheckRequest.objects.select_related("result").get()
    assert request.result.status == "ok" and request.result.source == "manual"
    assert recorder.paths == ["/health"]

    status = client.get(f"{url}status/", **HX)
    assert status["HX-Trigger"] == "incident-changed"
    assert "Tick: check passed" in status.content.decode()
    event = incident.events.get(kind=Kind.PROBE_RESULT)
    assert event.data["status"] == "ok" and event.data["result_id"] == request.result_id

    done = client.post(
        f"/incidents/{incident.pk}/checklists/steps/{step.pk}/done/",
        {"result": request.result_id},
        **HX,
    )
    assert done.status_code == 204
    step.refresh_from_db()
    assert step.state == "done"
    ticked = incident.events.get(kind=Kind.STEP_DONE)
    assert "check passed" in ticked.text and ticked.data["result_id"] == request.result_id


@pytest.mark.django_db(transaction=True)
def test_ticking_from_a_result_that_did_not_pass_is_refused(
    dead_broker, health, checked_run, incident, responder
):
    _, answers, _ = health
    run, step = checked_run
    answers["status"] = 503
    client = client_for(responder)
    client.post(f"/incidents/{incident.pk}/checklists/steps/{step.pk}/check/", **HX)
    failed = ProbeResult.objects.get()
    assert failed.status == "critical"
    response = client.post(
        f"/incidents/{incident.pk}/checklists/steps/{step.pk}/done/", {"result": failed.pk}, **HX
    )
    assert response.status_code == 400
    step.refresh_from_db()
    assert step.state == "pending"
    other = run.steps.get(position=2)
    response = client.post(
        f"/incidents/{incident.pk}/checklists/steps/{other.pk}/done/", {"result": "x"}, **HX
    )
    assert response.status_code == 400


def test_run_check_refusals(checked_run, incident, responder, outsider):
    run, step = checked_run
    unbound = run.steps.get(position=1)
    client = client_for(responder)
    base = f"/incidents/{incident.pk}/checklists/steps"
    assert client.post(f"{base}/{unbound.pk}/check/", **HX).status_code == 404
    assert client.get(f"{base}/{step.pk}/check/").status_code == 405
    assert client_for(outsider).post(f"{base}/{step.pk}/check/").status_code in (403, 404)
    assert not CheckRequest.objects.exists()


def test_reimporting_never_changes_a_running_checklists_binding(checked_run, health, lead):
    base, _, _ = health
    run, step = checked_run
    import_runbook(runbook_text(base, "\n4. A new step\n"), filename="cache.md", by=lead)
    step.refresh_from_db()
    assert checklists.step_check(step).probe.kind == "http"
