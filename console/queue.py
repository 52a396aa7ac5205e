"""Publishing Celery tasks without letting a broker outage reach the responder.

A publish to a broker that is down costs up to the connection timeout (2 s). After one fails,
the breaker stays open for BREAKER_SECONDS: every publish in this process returns False at
once (callers then do the work in the request, or leave it to beat's sweep), until one
publish, let through after the pause, finds the broker back and closes it. Each further
failure doubles the pause, up to BREAKER_MAX_SECONDS, so a long outage costs one slow
request a minute.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celery import Task
from django.db import connection, transaction
from kombu.exceptions import ChannelError, OperationalError
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
# ChannelError: the filesystem transport's on an OSError (full disk, permissions).
BROKER_ERRORS = (OperationalError, ChannelError, RedisError, OSError)
BREAKER_SECONDS = 5.0
BREAKER_MAX_SECONDS = 60.0


class Breaker:
    """Open after a failure; after `seconds`, one caller at a time may try again."""

    def __init__(self, seconds: float, longest: float = BREAKER_MAX_SECONDS) -> None:
        self.first = self.seconds = seconds
        self.longest = longest
        self.open_until = 0.0
        self.lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return self.open_until > time.monotonic()

    def allow(self) -> bool:
        """May this call try? While open: no. After the pause: the first caller tries (and
        holds the breaker open for the others while it does)."""
        if not self.open_until:
            return True
        with self.lock:
            now = time.monotonic()
            if self.open_until > now:
                return False
            self.open_until = now + self.seconds
            return True

    def failed(self) -> None:
        if self.open_until:  # failed again after a pause: a longer one
            self.seconds = min(self.seconds * 2, self.longest)
        self.open_until = time.monotonic() + self.seconds

    def succeeded(self) -> None:
        self.open_until = 0.0
        self.seconds = self.first


breaker = Breaker(BREAKER_SECONDS)


def enqueue(task: Task, *args: Any, **options: Any) -> bool:
    """Publish task(*args); return False instead of raising when the broker is unreachable
    (or was, within BREAKER_SECONDS).

    Inside a transaction the publish waits for the commit, so a worker never looks for a row
    that isn't there yet; the return value is then True (the outcome is only logged).
    """
    if connection.in_atomic_block:
        transaction.on_commit(lambda: _publish(task, args, options))
        return True
    return _publish(task, args, options)


def _publish(task: Task, args: tuple, options: dict) -> bool:
    if not breaker.allow():
        return False
    try:
        task.apply_async(args=args, retry=False, **options)
    except BROKER_ERRORS as exc:
        breaker.failed()
        log.warning(
            "broker unavailable, %s not queued (no publish for %.0f s): %s",
            task.name,
            breaker.seconds,
            exc,
        )
        return False
    breaker.succeeded()
    return True
