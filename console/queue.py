"""Publishing Celery tasks without letting a broker outage reach the responder."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from django.db import connection, transaction
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
BROKER_ERRORS = (OperationalError, RedisError, OSError)


def enqueue(task: Task, *args: Any, **options: Any) -> bool:
    """Publish task(*args); return False instead of raising when the broker is unreachable.

    Inside a transaction the publish waits for the commit, so a worker never looks for a row
    that isn't there yet; the return value is then True (the outcome is only logged).
    """
    if connection.in_atomic_block:
        transaction.on_commit(lambda: _publish(task, args, options))
        return True
    return _publish(task, args, options)


def _publish(task: Task, args: tuple, options: dict) -> bool:
    try:
        task.apply_async(args=args, retry=False, **options)
    except BROKER_ERRORS as exc:
        log.warning("broker unavailable, %s not queued: %s", task.name, exc)
        return False
    return True
