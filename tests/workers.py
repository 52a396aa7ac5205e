"""Real Celery worker processes for tests that need more than one worker.

`celery.contrib.testing.worker.start_worker` runs a worker in a thread; two of them in one
process share Celery's module-level shutdown flag, and the second can miss it and outlive its
test (then it takes the next test's tasks). Separate processes share nothing but the broker
and the test database, as workers in production do.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

from console.celery import app
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[1]


def test_database_url() -> str:
    """The database this test runs on (pytest-django's test_… database), as a DATABASE_URL."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(settings['NAME']).resolve()}"
    user = settings["USER"] or ""
    password = f":{settings['PASSWORD']}" if settings["PASSWORD"] else ""
    host = settings["HOST"] or "127.0.0.1"
    port = f":{settings['PORT']}" if settings["PORT"] else ""
    return f"postgres://{user}{password}@{host}{port}/{settings['NAME']}"


@contextmanager
def worker_processes(*names: str, env: dict[str, str] | None = None) -> Iterator[None]:
    """`celery worker` processes (solo pool), started and answering pings before the body
    runs; stopped (warm shutdown, then killed after 15 s) afterwards. `env`: more settings
    for the workers (a stand-in's URL, say)."""
    extra = env or {}
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": test_database_url(),
        **extra,
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "console",
                "worker",
                "--pool",
                "solo",
                "--hostname",
                name,
                "--without-mingle",
                "--without-gossip",
                "--loglevel",
                "WARNING",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        for name in names
    ]
    try:
        answered: set[str] = set()

        def all_up() -> bool:
            for process in processes:
                assert process.poll() is None, f"a worker exited with {process.returncode}"
            answered.update(name for reply in app.control.ping(timeout=0.5) for name in reply)
            return answered >= set(names)

        assert wait_for(all_up, 60), f"workers not answering: {set(names) - answered}"
        yield
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
