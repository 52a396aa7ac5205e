"""`manage.py runconsole` end to end: real gunicorn, Celery worker and beat as subprocesses.

A pure subprocess test: it has no django_db mark and never touches the test database. The
console under test runs on the embedded defaults (SQLite and the filesystem broker in a temp
dir), so it is the same on a laptop and in CI whatever DATABASE_URL/REDIS_URL CI exports.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.console.livecontrol import ROOT, console_env, free_port, manage

CHILD_NAMES = ("web", "worker", "beat")

# Runs inside `manage.py shell -c` with the console's env: an incident whose acknowledgement
# deadline passed an hour ago, and the deadline check queued on the filesystem broker.
QUEUE_OVERDUE_CHECK = """
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.utils import timezone
from incidents.actions import declare_incident
from incidents.tasks import check_ack_target

user = get_user_model().objects.create_user("runconsole-test")
incident = declare_incident(
    title="Checkout returns 502",
    severity="P1",
    declared_by=user,
    at=timezone.now() - timedelta(hours=2),
)
check_ack_target.delay(incident.pk)
print(f"incident={incident.pk}")
"""


def wait_for(condition: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{tail(log)}")


def tail(log: Path, lines: int = 60) -> str:
    text = log.read_text(errors="replace") if log.exists() else ""
    return "--- runconsole output (tail) ---\n" + "\n".join(text.splitlines()[-lines:])


def healthz_ok(port: int, timeout: float = 2) -> bool:
    try:
        url = f"http://127.0.0.1:{port}/healthz"
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def child_pids(log: Path) -> dict[str, int]:
    """The pids from runconsole's banner lines such as `  worker  pid 1234`."""
    text = log.read_text(errors="replace") if log.exists() else ""
    found = re.findall(r"^\s+(web|worker|beat)\s+pid (\d+)$", text, re.MULTILINE)
    return {name: int(pid) for name, pid in found}


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def breach_events(database: Path, incident_id: int) -> int:
    # Read-only, so the test never holds a write lock the worker is waiting for.
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        (count,) = conn.execute(
            "SELECT COUNT(*) FROM incidents_timelineevent WHERE incident_id = ? AND kind = ?",
            (incident_id, "ack_target_breached"),
        ).fetchone()
    return count


@contextlib.contextmanager
def runconsole(env: dict[str, str], port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runconsole", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        # Only reached with something still running when the test failed: leave nothing.
        if process.poll() is None:
            process.kill()
            process.wait()
        for pgid in child_pids(log).values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)


def test_runconsole_serves_runs_tasks_and_stops_cleanly(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    # Embedded defaults: livecontrol scrubs DATABASE_URL/REDIS_URL and the test settings.
    env = console_env(var_dir, PYTHONUNBUFFERED="1")
    manage(env, "migrate", "--noinput", "-v0")
    port = free_port()
    log = tmp_path / "runconsole.log"

    with runconsole(env, port, log) as supervisor:
        wait_for(lambda: healthz_ok(port), 60, f"/healthz on port {port}", log)
        pids = child_pids(log)
        assert sorted(pids) == sorted(CHILD_NAMES), tail(log)
        assert supervisor.poll() is None

        # End to end through the filesystem broker: this process publishes, the worker
        # started by runconsole consumes and writes the timeline event to SQLite.
        queued = manage(env, "shell", "-c", QUEUE_OVERDUE_CHECK)
        incident_id = int(re.search(r"incident=(\d+)", queued).group(1))
        database = var_dir / "console.sqlite3"
        wait_for(
            lambda: breach_events(database, incident_id) == 1,
            30,
            "the worker to record ack_target_breached",
            log,
        )

        supervisor.send_signal(signal.SIGINT)
        try:
            returncode = supervisor.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail(f"runconsole still running 20 s after SIGINT\n{tail(log)}")

    assert returncode == 0, tail(log)
    # Each child led its own process group, so an empty group means the child and everything
    # it forked (gunicorn workers, Celery's pool) are gone.
    leftovers = {name: pid for name, pid in pids.items() if group_alive(pid)}
    assert leftovers == {}, tail(log)


def restarted_pids(log: Path, name: str) -> list[int]:
    text = log.read_text(errors="replace") if log.exists() else ""
    return [int(pid) for pid in re.findall(rf"runconsole: {name} restarted, pid (\d+)", text)]


def heartbeat_pid(database: Path, name: str) -> int | None:
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        try:
            row = conn.execute(
                "SELECT json_extract(info, '$.pid') FROM probes_heartbeat WHERE name = ?", (name,)
            ).fetchone()
        except sqlite3.OperationalError:
            return None
    return row[0] if row else None


def test_a_worker_killed_with_sigkill_is_restarted_and_the_web_server_answers_throughout(
    tmp_path: Path,
) -> None:
    import threading

    var_dir = tmp_path / "var"
    env = console_env(var_dir, PYTHONUNBUFFERED="1", CONSOLE_HEARTBEAT_SECONDS="1")
    manage(env, "migrate", "--noinput", "-v0")
    port = free_port()
    log = tmp_path / "runconsole.log"
    database = var_dir / "console.sqlite3"

    with runconsole(env, port, log) as supervisor:
        wait_for(lambda: healthz_ok(port), 60, f"/healthz on port {port}", log)
        old_worker = child_pids(log)["worker"]
        wait_for(
            lambda: heartbeat_pid(database, "worker") == old_worker, 60, "worker heartbeat", log
        )

        # /healthz asked every 100 ms from the kill until the new worker has done a task.
        answers: list[bool] = []
        stop = threading.Event()

        def ask() -> None:
            while not stop.is_set() and len(answers) < 3000:
                # Answered at all is what counts here (a busy machine may be slow).
                answers.append(healthz_ok(port, timeout=15))
                time.sleep(0.1)

        asker = threading.Thread(target=ask)
        asker.start()
        try:
            os.kill(old_worker, signal.SIGKILL)
            wait_for(lambda: restarted_pids(log, "worker"), 30, "the worker's restart", log)
            (new_worker,) = restarted_pids(log, "worker")
            assert new_worker != old_worker
            # The new worker is a real one: it consumes from the broker and beats.
            queued = manage(env, "shell", "-c", QUEUE_OVERDUE_CHECK)
            incident_id = int(re.search(r"incident=(\d+)", queued).group(1))
            wait_for(
                lambda: breach_events(database, incident_id) == 1,
                60,
                "the restarted worker to record ack_target_breached",
                log,
            )
            wait_for(
                lambda: heartbeat_pid(database, "worker") == new_worker,
                30,
                "the restarted worker's heartbeat",
                log,
            )
        finally:
            # However fast the restart was, the web server answered a second of asks.
            deadline = time.monotonic() + 30
            while len(answers) < 11 and time.monotonic() < deadline:
                time.sleep(0.1)
            stop.set()
            asker.join(10)
        assert supervisor.poll() is None, tail(log)
        assert len(answers) > 10 and all(answers), f"{answers.count(False)} of {len(answers)}"
        text = log.read_text(errors="replace")
        assert f"worker (pid {old_worker}) exited with signal SIGKILL; restarting in 1 s" in text
        # The dead worker's pool processes were stopped with it.
        wait_for(lambda: not group_alive(old_worker), 15, "the old worker's pool to go", log)

        supervisor.send_signal(signal.SIGINT)
        returncode = supervisor.wait(timeout=20)

    assert returncode == 0, tail(log)
    for pgid in (*child_pids(log).values(), new_worker):
        assert not group_alive(pgid), tail(log)
