"""Which runbook commands become probes, and which are left for a person to run."""

from __future__ import annotations

import pytest

from probes.recognise import logical_lines, recognise_block, recognise_step
from runbooks.parser import parse_runbook
from runbooks.steps import checklist_steps
from tests.seeds import needs_seeds, seed_texts


@pytest.mark.parametrize(
    ("code", "kind", "expected"),
    [
        (
            "curl -I https://status.acme-shop.io/api/health",
            "http",
            {"url": "https://status.acme-shop.io/api/health", "method": "HEAD"},
        ),
        ("curl -f https://api.acme-shop.io/health", "http", {"method": "GET"}),
        ("curl -sSL https://api.acme-shop.io/health | jq '.'", "http", {"follow_redirects": True}),
        ("curl -k https://10.0.0.5/healthz", "http", {"verify_tls": False}),
        ("redis-cli -h localhost -p 6379 ping", "redis", {"url_env": "REDIS_URL"}),
        ("redis-cli -u $CACHE_URL ping", "redis", {"url_env": "CACHE_URL"}),
        ("redis-cli INFO memory", "redis", {"url_env": "REDIS_URL"}),
        ('psql $DATABASE_URL -c "SELECT 1;"', "postgres", {"dsn_env": "DATABASE_URL"}),
        ('psql "${REPLICA_DSN}" -c "select 1"', "postgres", {"dsn_env": "REPLICA_DSN"}),
        ("stripe events list --limit 10", "stripe", {"api_key_env": "STRIPE_SECRET_KEY"}),
        ("$ curl https://acme-shop.io/ping", "http", {"url": "https://acme-shop.io/ping"}),
    ],
)
def test_read_only_checks_are_recognised(code, kind, expected):
    found = recognise_block(code, "bash")
    assert found is not None and found.kind == kind
    assert expected.items() <= found.config.items()
    assert len(found.key) == 64


@pytest.mark.parametrize(
    "code",
    [
        "curl -X POST https://example.org/api/stripe/webhook -d '{}'",
        'curl -H "Authorization: Bearer $SERVICE_KEY" https://example.org/rest/v1/',
        "curl https://[project].example.co/rest/v1/",
        'curl "$METRICS_ENDPOINT" | grep circuit_breaker',
        "psql -h db -U postgres -d postgres -f backup-2024.sql",
        "psql $DATABASE_URL < backup.sql",
        'psql $DATABASE_URL -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity;"',
        'psql $DATABASE_URL -c "DELETE FROM sessions"',
        "redis-cli FLUSHALL",
        # Placeholder hosts, and hosts that are not the console's own services.
        "curl https://xxx.supabase.co/rest/v1/health",
        "curl -f https://your-domain.com/api/health",
        "curl -I https://status.example.org/api/health",
        "redis-cli -h redis.example.com -p 6379 ping",
        "redis-cli -h cache.internal -p 6379 ping",
        "redis-cli -h $REDIS_HOST ping",
        "redis-cli -u redis://:secret@cache.internal:6379 ping",
        'psql -h db.internal -U app -c "SELECT 1;"',
        "stripe trigger payment_intent.succeeded",
        "stripe events resend evt_123",
        "kubectl rollout undo deployment/api",
        'psql $DATABASE_URL -c "select',  # cut in the middle of a quoted string
    ],
)
def test_commands_that_change_things_or_need_secrets_are_not(code):
    assert recognise_block(code, "bash") is None


def test_sql_blocks_on_pg_stat_activity_but_never_with_a_write():
    reading = (
        "-- how many\nSELECT count(*) FROM pg_stat_activity;\n\n"
        "SELECT pid, now() - query_start AS duration FROM pg_stat_activity\n"
        "WHERE (now() - query_start) > interval '10 minutes';\n"
    )
    found = recognise_block(reading, "sql")
    assert found.kind == "postgres" and found.config["active_query_seconds"] == 600
    killing = reading + "SELECT pg_terminate_backend(pid) FROM pg_stat_activity;\n"
    assert recognise_block(killing, "sql") is None
    assert recognise_block("SELECT pg_size_pretty(pg_database_size('x'));", "sql") is None


def test_continuations_and_quoted_strings_spanning_lines_are_one_command():
    code = (
        "curl -f \\\n  https://example.org/health\n# comment\n"
        'psql "$DATABASE_URL" -c "\n  SELECT 1\n"\n'
    )
    assert logical_lines(code) == [
        "curl -f https://example.org/health",
        'psql "$DATABASE_URL" -c " SELECT 1 "',
    ]


def test_same_check_same_key_whatever_the_spelling():
    one = recognise_block('psql $DATABASE_URL -c "SELECT 1;"')
    two = recognise_block("psql \"$DATABASE_URL\" -c 'select 1'")
    assert one.key == two.key
    assert one.key != recognise_block("redis-cli ping").key


def test_first_recognised_block_of_a_step_wins():
    code = [
        {"lang": "bash", "content": "kubectl get pods"},
        {"lang": "bash", "content": "redis-cli ping"},
    ]
    assert recognise_step(code).kind == "redis"
    assert recognise_step([]) is None


@needs_seeds
def test_the_seeds_diagnosis_commands_become_checks():
    kinds: dict[str, int] = {}
    for name, text in seed_texts():
        tree, _ = parse_runbook(text, name)

        def visit(node):
            if node["kind"] in ("scenario", "procedure"):
                for step in checklist_steps(node):
                    found = recognise_step(step["code"])
                    if found:
                        kinds[found.kind] = kinds.get(found.kind, 0) + 1
            for child in node["children"]:
                visit(child)

        visit(tree)
    # curl health checks, psql SELECT 1 / pg_stat_activity, stripe events list. The seeds'
    # redis-cli commands all name a placeholder host (redis.example.com): none is bound.
    assert set(kinds) == {"http", "postgres", "stripe"}
