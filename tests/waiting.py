"""Bounded waits for tests that watch another process (a Celery worker, a live server)."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(predicate: Callable[[], bool], seconds: float = 30) -> bool:
    """Poll every 0.1 s until predicate() is true; False once `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False
