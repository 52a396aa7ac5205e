"""Signs of life of the Celery worker and beat, for the incident pages' "worker down" banner.

Each writes one `probes.Heartbeat` row ("worker", "beat") from a daemon thread of its main
process every HEARTBEAT_SECONDS, the same rows the probe dispatcher writes its own heartbeat
to. The thread runs in the process itself, not as a task through the broker, so a full queue
or a busy pool can't make a live worker look dead, and a dead one stops beating at once.
A row older than stale_after() means that process is down (or hung).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import timedelta
from typing import Any

from celery.signals import beat_init, worker_ready, worker_shutdown
from django.conf import settings
from django.db import close_old_connections

log = logging.getLogger(__name__)
COMPONENTS = ("worker", "beat")
_stop = threading.Event()


def interval() -> int:
    return int(getattr(settings, "CONSOLE_HEARTBEAT_SECONDS", 10))


def stale_after() -> timedelta:
    # Three missed beats, and never under 30 s: a worker busy starting up is not "down".
    return timedelta(seconds=max(3 * interval(), 30))


def beat_once(name: str) -> None:
    from probes.engine import beat

    beat(name, host=socket.gethostname(), pid=os.getpid())


def _run(name: str, seconds: int) -> None:
    while not _stop.is_set():
        try:
            beat_once(name)
        except Exception:  # noqa: BLE001 - a database hiccup must not end the heartbeat
            log.warning("%s heartbeat not written", name, exc_info=True)
        finally:
            close_old_connections()
        _stop.wait(seconds)


def start(name: str) -> threading.Thread | None:
    seconds = interval()
    if seconds <= 0:
        return None
    thread = threading.Thread(target=_run, args=(name, seconds), name=f"{name}-heartbeat")
    thread.daemon = True
    thread.start()
    return thread


@worker_ready.connect
def _on_worker_ready(**kwargs: Any) -> None:
    start("worker")


@beat_init.connect
def _on_beat_init(**kwargs: Any) -> None:
    start("beat")


@worker_shutdown.connect
def _on_worker_shutdown(**kwargs: Any) -> None:
    _stop.set()
