"""Redis: PING latency, memory against maxmemory, clients, rejected connections and evicted
keys (the last two are counters: compared with the previous result)."""

from __future__ import annotations

import redis

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


def clean(config: dict) -> dict:
    errors: dict[str, str] = {}
    env_name(config, "url_env", errors)
    for key in (
        "memory_warn_pct",
        "memory_crit_pct",
        "blocked_clients_warn",
        "latency_warn_ms",
        "latency_crit_ms",
    ):
        optional_number(config, key, errors)
    raise_errors(errors)
    return {
        "url_env": config["url_env"],
        "memory_warn_pct": config.get("memory_warn_pct", 80),
        "memory_crit_pct": config.get("memory_crit_pct", 95),
        "blocked_clients_warn": config.get("blocked_clients_warn", 10),
        "latency_warn_ms": config.get("latency_warn_ms", 50),
        "latency_crit_ms": config.get("latency_crit_ms", 500),
    }


def run(config: dict, timeout: float, previous: dict | None = None) -> CheckResult:
    try:
        url = secret_from_env(config["url_env"])
    except MissingSecret as exc:
        return CheckResult("error", str(exc))
    target = redact_url(url)
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        with Stopwatch() as watch:
            client.ping()
        info = client.info()
    except redis.RedisError as exc:
        return CheckResult("critical", f"{target}: {exc}"[:300], None, {"target": target})
    finally:
        client.close()

    used, maxmemory = info.get("used_memory", 0), info.get("maxmemory", 0)
    counters = {k: info.get(k, 0) for k in ("rejected_connections", "evicted_keys")}
    details = {
        "target": target,
        "version": info.get("redis_version"),
        "used_memory": used,
        "used_memory_human": info.get("used_memory_human"),
        "maxmemory": maxmemory,
        "connected_clients": info.get("connected_clients", 0),
        "blocked_clients": info.get("blocked_clients", 0),
        **counters,
    }
    status = latency_status(watch.ms, config)
    problems = []
    if maxmemory:
        pct = used * 100 / maxmemory
        details["memory_pct"] = round(pct, 1)
        if pct >= config["memory_crit_pct"]:
            status = worst(status, "critical")
            problems.append(f"memory {pct:.0f}% of maxmemory")
        elif pct >= config["memory_warn_pct"]:
            status = worst(status, "warning")
            problems.append(f"memory {pct:.0f}% of maxmemory")
    if details["blocked_clients"] >= config["blocked_clients_warn"]:
        status = worst(status, "warning")
        problems.append(f"{details['blocked_clients']} blocked clients")
    for key, value in counters.items():
        before = (previous or {}).get(key)
        if before is not None and value > before:
            details[f"{key}_new"] = value - before
            status = worst(status, "warning")
            problems.append(f"{value - before} {key.replace('_', ' ')} since the last check")
    summary = "; ".join(problems) or (
        f"PONG in {watch.ms:.1f} ms, {details['used_memory_human']} used, "
        f"{details['connected_clients']} clients"
    )
    return CheckResult(status, summary, watch.ms, details)
