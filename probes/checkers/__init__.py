"""Typed health checks. Each kind validates its configuration and runs one check.

    check = CHECKERS["http"]
    config = check.clean(raw_config)        # ValidationError naming the bad fields
    result = check.run(config, timeout=5)   # CheckResult, never raises

HTTP checks also run in batches on one httpx.AsyncClient (`http.run_many`), so probes that
fall due together take as long as the slowest, not the sum.
"""

from __future__ import annotations

from probes.checkers import (
    celery_queue,
    heartbeat,
    http,
    net,
    postgres,
    redis_server,
    stripe_account,
)
from probes.checkers.base import FAILING, CheckResult, Status, worst

CHECKERS = {
    "http": http,
    "tcp": net.tcp,
    "tls": net.tls,
    "dns": net.dns,
    "postgres": postgres,
    "redis": redis_server,
    "stripe": stripe_account,
    "celery": celery_queue,
    "heartbeat": heartbeat,
}

__all__ = ["CHECKERS", "CheckResult", "FAILING", "Status", "worst"]
