"""Celery: a worker answers a ping, and the queue's depth in the broker."""

from __future__ import annotations

from kombu.exceptions import ChannelError, OperationalError

from probes.checkers.base import CheckResult, Stopwatch, optional_number, raise_errors, worst


def clean(config: dict) -> dict:
    errors: dict[str, str] = {}
    for key in ("min_workers", "depth_warn", "depth_crit"):
        optional_number(config, key, errors)
    queue = config.get("queue", "celery")
    if not isinstance(queue, str) or not queue:
        errors["queue"] = "A queue name."
    raise_errors(errors)
    return {
        "queue": queue,
        "min_workers": config.get("min_workers", 1),
        "depth_warn": config.get("depth_warn", 100),
        "depth_crit": config.get("depth_crit", 1000),
    }


def run(config: dict, timeout: float, previous: dict | None = None) -> CheckResult:
    from console.celery import app

    try:
        with Stopwatch() as watch:
            # `limit`: return as soon as enough workers answered, so the latency is the
            # time to the replies needed, not the whole waiting window.
            replies = app.control.ping(
                timeout=min(timeout, 2.0), limit=config["min_workers"] or None
            )
        depth = queue_depth(app, config["queue"])
    except (OperationalError, OSError) as exc:
        return CheckResult("critical", f"broker unavailable: {exc}"[:300])
    workers = sorted(name for reply in replies for name in reply)
    details = {"workers": workers, "queue": config["queue"], "depth": depth}
    status = "ok"
    problems = []
    if len(workers) < config["min_workers"]:
        status = "critical"
        problems.append(f"{len(workers)} worker(s) answered, expected {config['min_workers']}")
    if depth >= config["depth_crit"]:
        status = worst(status, "critical")
        problems.append(f"{depth} tasks queued")
    elif depth >= config["depth_warn"]:
        status = worst(status, "warning")
        problems.append(f"{depth} tasks queued")
    summary = "; ".join(problems) or f"{len(workers)} worker(s) answered; {depth} queued"
    return CheckResult(status, summary, watch.ms, details)


def queue_depth(app, queue: str) -> int:
    """Messages waiting in the queue. A queue the broker doesn't know (Redis drops an empty
    list, and nothing has bound it yet) holds nothing."""
    with app.connection_for_read() as connection:
        try:
            return connection.default_channel.queue_declare(queue=queue, passive=True).message_count
        except ChannelError:
            return 0
