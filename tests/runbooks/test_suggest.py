"""Suggestions: which scenarios and procedures fit an incident, best first."""

from __future__ import annotations

import pytest

from incidents import actions
from incidents.models import Service
from runbooks import checklists
from runbooks.importer import import_runbook
from runbooks.models import Scenario
from runbooks.suggest import Candidate, load_candidates, rank, stem, suggest, terms
from tests.seeds import SEED_FILES, needs_seeds


def candidate(pk: int, title: str, text: str = "") -> Candidate:
    return Candidate(pk, title, "scenario", "", title.lower(), 1, "Runbook", "rb", 1, text)


# -- normalisation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "same"),
    [
        ("connection connections connecting connected", True),
        ("exhausted exhaustion", True),
        ("error errors", True),
        ("failing failed", True),
        ("cache caches caching", True),
        ("deploy deployment deployments", True),
        ("queries query", True),
        ("processes process processing", True),
        ("redis stripe", False),
    ],
)
def test_light_stemming_makes_word_forms_meet(words, same):
    stems = {stem(word) for word in words.split()}
    assert (len(stems) == 1) is same, stems


def test_terms_lowercase_and_drop_stopwords():
    assert terms("The Redis connection is DOWN for all of the EU users") == (
        "redis",
        "connect",
        "down",
        "eu",
        "user",
    )
    assert terms("p95 > 500ms on `REDIS_URL`") == ("p95", "500m", "redis", "url")


# -- ranking ---------------------------------------------------------------------------------


def test_a_title_match_outweighs_a_mention_in_the_text():
    candidates = [
        candidate(1, "Slow pages", "Check the redis connection pool and the queue"),
        candidate(2, "Redis connection issues", "Ping the server"),
        candidate(3, "Disk full", "Delete old logs"),
    ]
    ranked = rank(candidates, title="Redis connection errors")
    assert [s.candidate.scenario_id for s in ranked] == [2, 1]
    assert ranked[0].score > ranked[1].score > 0
    assert ranked[0].matched == ("redis", "connection")


def test_rare_terms_count_more_than_common_ones():
    # "check" is in every candidate, "stripe" in one: a Stripe title beats a check title.
    candidates = [
        candidate(1, "Check the checks", "check check check"),
        candidate(2, "Stripe outage", "check the dashboard"),
        candidate(3, "Disk", "check the disk"),
    ]
    ranked = rank(candidates, title="Check Stripe")
    assert ranked[0].candidate.scenario_id == 2


def test_only_positive_scores_at_most_five_and_excluded_ones_left_out():
    candidates = [candidate(n, f"Webhook problem {n}") for n in range(8)]
    candidates.append(candidate(99, "Disk full"))
    ranked = rank(candidates, title="webhook", exclude={0, 1})
    assert len(ranked) == 5
    assert {s.candidate.scenario_id for s in ranked} <= set(range(2, 8))
    assert rank(candidates, title="nothing in common") == []
    assert rank(candidates, title="the and of") == []
    assert rank([], title="webhook") == []


def test_services_and_summary_count_too():
    candidates = [candidate(1, "Redis down"), candidate(2, "Postgres down")]
    [first, _] = rank(candidates, title="Everything is down", services=["Redis"])
    assert first.candidate.scenario_id == 1
    [first, _] = rank(candidates, title="Everything is down", summary="postgres refuses logins")
    assert first.candidate.scenario_id == 2


# -- the team's runbooks ---------------------------------------------------------------------


@pytest.fixture
def seeds(db) -> None:
    for path in SEED_FILES:
        import_runbook(path.read_bytes(), filename=path.name)


@needs_seeds
def test_candidates_are_the_current_versions_in_one_query(seeds, django_assert_num_queries):
    with django_assert_num_queries(1):
        candidates = load_candidates()
    current = Scenario.objects.filter(version__runbook__current_version__isnull=False).count()
    assert len(candidates) == current > 40
    assert {c.kind for c in candidates} == {"scenario", "procedure"}


@needs_seeds
@pytest.mark.parametrize(
    ("title", "best", "also"),
    [
        ("Redis connection errors in production", {"Redis Connection Issues"}, set()),
        (
            "Stripe webhook signature failures",
            {"Stripe Webhook Failures"},
            {"Webhook Security Alert"},
        ),
        (
            "Database connection pool exhausted",
            {"Database Connection Exhaustion"},
            {"Database Connection Issues"},
        ),
        ("Memory leak on the API pods", {"Memory Leak (High Heap Usage)"}, set()),
        (
            "Failed deployment, need to roll back",
            {"Deployment Rollback", "Failed Deployment"},
            set(),
        ),
    ],
)
def test_the_team_runbooks_are_ranked_sensibly(seeds, responder, title, best, also):
    incident = actions.declare_incident(title=title, severity="P1", declared_by=responder)
    suggestions = suggest(incident)
    titles = [s.candidate.title for s in suggestions]
    assert 0 < len(titles) <= 5
    assert titles[0] in best, titles
    assert also <= set(titles), titles
    assert all(s.score > 0 for s in suggestions)
    assert [s.score for s in suggestions] == sorted((s.score for s in suggestions), reverse=True)


@needs_seeds
def test_redis_connection_issues_comes_first_and_from_the_right_runbook(seeds, responder):
    incident = actions.declare_incident(
        title="Redis connection errors in production", severity="P1", declared_by=responder
    )
    first = suggest(incident)[0]
    assert first.candidate.title == "Redis Connection Issues"
    scenario = Scenario.objects.select_related("version__runbook").get(
        pk=first.candidate.scenario_id
    )
    assert scenario.version.filename == "000_324968b38d460266.txt"
    assert set(first.matched) >= {"redis", "connection"}


@needs_seeds
def test_a_service_name_steers_the_suggestion(seeds, responder):
    redis = Service.objects.create(name="Redis")
    incident = actions.declare_incident(
        title="Connection errors", severity="P2", declared_by=responder, services=[redis]
    )
    assert suggest(incident)[0].candidate.title == "Redis Connection Issues"


@needs_seeds
def test_the_panel_hides_an_attached_scenario(seeds, responder):
    incident = actions.declare_incident(
        title="Redis connection errors in production", severity="P1", declared_by=responder
    )
    panel = checklists.checklist_panel(incident, services=[])
    first = panel.suggestions[0].candidate
    checklists.attach_scenario(incident, Scenario.objects.get(pk=first.scenario_id), by=responder)
    panel = checklists.checklist_panel(incident, services=[])
    assert first.scenario_id not in {s.candidate.scenario_id for s in panel.suggestions}
    assert first.scenario_id in panel.attached_ids
    assert len(panel.runs) == 1
