"""Stripe, through the stripe library: API reachability and latency, webhook endpoints that
are not enabled, events still waiting for webhook delivery, and the charge success rate over
the last hour (the team alerts below 90 %)."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import stripe

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

PAGE = 100


def clean(config: dict) -> dict:
    errors: dict[str, str] = {}
    config = {"api_key_env": "STRIPE_SECRET_KEY", **config}
    env_name(config, "api_key_env", errors)
    base = config.get("api_base", "")
    if base and urlsplit(base).scheme not in ("http", "https"):
        errors["api_base"] = "An http(s) URL, or empty for Stripe's own API."
    for key in (
        "success_rate_min",
        "min_charges",
        "pending_webhooks_warn",
        "lookback_minutes",
        "latency_warn_ms",
        "latency_crit_ms",
    ):
        optional_number(config, key, errors)
    raise_errors(errors)
    return {
        "api_key_env": config["api_key_env"],
        "api_base": base,
        "success_rate_min": config.get("success_rate_min", 90),
        "min_charges": config.get("min_charges", 10),
        "pending_webhooks_warn": config.get("pending_webhooks_warn", 1),
        "lookback_minutes": config.get("lookback_minutes", 60),
        "latency_warn_ms": config.get("latency_warn_ms", 1500),
        "latency_crit_ms": config.get("latency_crit_ms"),
    }


def run(config: dict, timeout: float, previous: dict | None = None) -> CheckResult:
    try:
        api_key = secret_from_env(config["api_key_env"])
    except MissingSecret as exc:
        return CheckResult("error", str(exc))
    client = stripe.StripeClient(
        api_key,
        base_addresses={"api": config["api_base"]} if config["api_base"] else None,
        http_client=stripe.RequestsClient(timeout=timeout),
        max_network_retries=0,
    )
    since = int(time.time()) - int(config["lookback_minutes"] * 60)
    try:
        with Stopwatch() as watch:
            endpoints = client.v1.webhook_endpoints.list(params={"limit": PAGE})
        events = client.v1.events.list(params={"limit": PAGE, "created": {"gte": since}})
        charges = client.v1.charges.list(params={"limit": PAGE, "created": {"gte": since}})
    except stripe.AuthenticationError as exc:
        return CheckResult("error", f"Stripe refused the API key: {exc.user_message or exc}")
    except stripe.StripeError as exc:
        return CheckResult("critical", f"Stripe API unreachable: {exc.user_message or exc}"[:300])

    disabled = [
        {"id": e.id, "url": e.url, "status": e.status}
        for e in endpoints.data
        if e.status != "enabled"
    ]
    pending = [
        {"id": e.id, "type": e.type, "pending_webhooks": e.pending_webhooks}
        for e in events.data
        if (e.pending_webhooks or 0) > 0
    ]
    succeeded = sum(1 for c in charges.data if c.status == "succeeded")
    failed = sum(1 for c in charges.data if c.status == "failed")
    rate = round(succeeded * 100 / (succeeded + failed), 1) if succeeded + failed else None
    details = {
        "webhook_endpoints": len(endpoints.data),
        "disabled_endpoints": disabled,
        "events_checked": len(events.data),
        "events_pending_webhooks": pending[:10],
        "pending_count": len(pending),
        "charges_succeeded": succeeded,
        "charges_failed": failed,
        "success_rate": rate,
        "sampled_first_page_only": bool(events.has_more or charges.has_more),
    }
    status = latency_status(watch.ms, config)
    problems = []
    if disabled:
        status = worst(status, "warning")
        problems.append(f"{len(disabled)} webhook endpoint(s) not enabled")
    if len(pending) >= config["pending_webhooks_warn"]:
        status = worst(status, "warning")
        problems.append(f"{len(pending)} event(s) with pending webhooks")
    if (
        rate is not None
        and succeeded + failed >= config["min_charges"]
        and (rate < config["success_rate_min"])
    ):
        status = worst(status, "critical")
        problems.append(f"payment success {rate}% (alert below {config['success_rate_min']}%)")
    summary = "; ".join(problems) or (
        f"API answered in {watch.ms:.0f} ms; "
        + (f"payment success {rate}%" if rate is not None else "no charges in the window")
    )
    return CheckResult(status, summary, watch.ms, details)
