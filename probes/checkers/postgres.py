"""PostgreSQL: connect + SELECT 1, connections against max_connections, long-running queries
and sessions idle in a transaction, with the top offenders named by pid."""

from __future__ import annotations

import psycopg

from console.env import redact_url
from probes.checkers.base import (
    CheckResult,
    MissingSecret,
    Stopwatch,
    env_name,
    latency_status,
    optional_number,
    raise_errors,
    secret_from_env,
    worst,
)

OFFENDERS = """
SELECT pid, state, usename, application_name,
       extract(epoch FROM now() - {since})::float AS seconds,
       left(regexp_replace(query, '\\s+', ' ', 'g'), 200) AS query
FROM pg_stat_activity
WHERE state = %(state)s AND pid <> pg_backend_pid() AND {since} IS NOT NULL
  AND now() - {since} > make_interval(secs => %(seconds)s)
ORDER BY {since}
LIMIT %(limit)s
"""
TOP_OFFENDERS = 5


def clean(config: dict) -> dict:
    errors: dict[str, str] = {}
    env_name(config, "dsn_env", errors)
    for key in (
        "connections_warn",
        "connections_crit",
        "latency_warn_ms",
        "latency_crit_ms",
        "active_query_seconds",
        "idle_in_transaction_seconds",
    ):
        optional_number(config, key, errors)
    raise_errors(errors)
    return {
        "dsn_env": config["dsn_env"],
        # The team's numbers: about 50 connections is normal, 80 is an alert.
        "connections_warn": config.get("connections_warn", 50),
        "connections_crit": config.get("connections_crit", 80),
        "active_query_seconds": config.get("active_query_seconds", 300),
        "idle_in_transaction_seconds": config.get("idle_in_transaction_seconds", 300),
        "latency_warn_ms": config.get("latency_warn_ms"),
        "latency_crit_ms": config.get("latency_crit_ms"),
    }


def run(config: dict, timeout: float, previous: dict | None = None) -> CheckResult:
    try:
        dsn = secret_from_env(config["dsn_env"])
    except MissingSecret as exc:
        return CheckResult("error", str(exc))
    target = redact_url(dsn)
    try:
        # The latency a client sees: connecting plus the first round trip.
        with Stopwatch() as watch:
            conn = psycopg.connect(
                dsn,
                connect_timeout=max(1, int(timeout)),
                autocommit=True,
                options=f"-c statement_timeout={int(timeout * 1000)}",
                application_name="incident-console-probe",
            )
            conn.execute("SELECT 1").fetchone()
        with conn:
            return _inspect(conn, config, watch.ms, target)
    except psycopg.Error as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return CheckResult(
            "critical", f"cannot query {target}: {message}"[:300], None, {"target": target}
        )


def _inspect(conn: psycopg.Connection, config: dict, latency: float, target: str):
    in_use, max_connections = conn.execute(
        "SELECT count(*), current_setting('max_connections')::int FROM pg_stat_activity"
    ).fetchone()
    long_active = _offenders(conn, "active", "query_start", config["active_query_seconds"])
    idle_in_tx = _offenders(
        conn, "idle in transaction", "state_change", config["idle_in_transaction_seconds"]
    )
    status = "ok"
    problems = []
    if in_use >= config["connections_crit"]:
        status = "critical"
        problems.append(f"{in_use} connections (alert at {config['connections_crit']})")
    elif in_use >= config["connections_warn"]:
        status = "warning"
        problems.append(f"{in_use} connections (normal below {config['connections_warn']})")
    if long_active:
        status = worst(status, "warning")
        problems.append(
            f"{len(long_active)} queries running > {config['active_query_seconds']:g} s"
        )
    if idle_in_tx:
        status = worst(status, "warning")
        pids = ", ".join(str(o["pid"]) for o in idle_in_tx)
        problems.append(
            f"{len(idle_in_tx)} sessions idle in transaction > "
            f"{config['idle_in_transaction_seconds']:g} s (pid {pids})"
        )
    summary = "; ".join(problems) or (
        f"{in_use}/{max_connections} connections, connect + SELECT 1 in {latency:.0f} ms"
    )
    details = {
        "target": target,
        "connections": in_use,
        "max_connections": max_connections,
        "long_running": long_active,
        "idle_in_transaction": idle_in_tx,
    }
    return CheckResult(worst(status, latency_status(latency, config)), summary, latency, details)


def _offenders(conn: psycopg.Connection, state: str, since: str, seconds: float) -> list[dict]:
    rows = conn.execute(
        OFFENDERS.format(since=since),
        {"state": state, "seconds": seconds, "limit": TOP_OFFENDERS},
    ).fetchall()
    return [
        {
            "pid": pid,
            "state": row_state,
            "user": user,
            "application": app,
            "seconds": round(duration, 1),
            "query": query,
        }
        for pid, row_state, user, app, duration, query in rows
    ]
