"""Run the whole console in the foreground: web (gunicorn), a Celery worker and Celery beat.

One command for a laptop or a demo, so nobody has to juggle three terminals. This process is
only a supervisor: each child runs in its own session, so the terminal's Ctrl-C reaches the
supervisor alone, which then stops every child's whole process group (gunicorn's workers,
Celery's pool) in order: SIGTERM, up to GRACE_SECONDS to finish, SIGKILL for what is left.
A worker or beat that exits on its own is restarted (console/supervise.py: backoff, a limit
per minute, each restart logged) while the web server keeps serving; if the web server exits,
the others are stopped too and the command fails.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from console.env import env_int, env_str, redact_url
from console.supervise import Supervisor

GRACE_SECONDS = 10.0
POLL_SECONDS = 0.2
DEMO_USERS = ("responder", "lead", "manager")
# SIGHUP too: closing the terminal must not leave the children running in their own sessions.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PR_SET_PDEATHSIG = 1


def _prctl() -> object | None:
    """libc's prctl on Linux, looked up before any fork (the child must not load anything)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _prctl()


def _term_with_supervisor(supervisor_pid: int) -> None:
    """In the child, before exec: get SIGTERM if the supervisor dies, even by SIGKILL.

    The signal handlers cover every orderly stop; this covers `kill -9` of the supervisor
    (or a test runner killing it), which would otherwise orphan a gunicorn still holding
    the port. The child's own graceful shutdown then stops its workers.
    """
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != supervisor_pid:
        # The supervisor died between fork and prctl: the death signal will never come.
        os.kill(os.getpid(), signal.SIGTERM)


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    leader_asked: bool = False
    group_asked: bool = False

    @property
    def pid(self) -> int:
        return self.process.pid

    def exited(self) -> int | None:
        return self.process.poll()

    def group_alive(self) -> bool:
        # Reap the leader first: an unreaped (zombie) leader keeps its group answering kill 0.
        self.process.poll()
        try:
            # start_new_session made the child a group leader, so its pid is the group id.
            os.killpg(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def terminate(self) -> None:
        """SIGTERM the leader once; once the leader is gone, SIGTERM its leftovers once."""
        if self.process.poll() is None:
            if not self.leader_asked:
                self.leader_asked = True
                self.process.send_signal(signal.SIGTERM)
        elif not self.group_asked:
            self.group_asked = True
            self.signal_group(signal.SIGTERM)

    def signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signum)


class Command(BaseCommand):
    help = "Run web (gunicorn), a Celery worker and Celery beat in the foreground until Ctrl-C."

    # Prints Django's "unapplied migrations" notice, as runserver does.
    requires_migrations_checks = True

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--host", default="127.0.0.1", help="Address gunicorn binds (default 127.0.0.1)."
        )
        parser.add_argument(
            "--port",
            type=int,
            default=None,
            help="Port gunicorn binds (default: $PORT, else 8000).",
        )

    def handle(self, *args: object, host: str, port: int | None, **options: object) -> None:
        if port is None:
            port = env_int("PORT", 8000, minimum=1)
        # The children's CONSOLE_BASE_URL (unless set) follows the port served (settings).
        os.environ["PORT"] = str(port)
        self.stop_signals: list[int] = []
        # Handlers go in before the first child exists, so a Ctrl-C that lands while we are
        # still spawning is seen by the loop below instead of raising KeyboardInterrupt
        # halfway and leaving the children already started behind.
        previous = {signum: signal.signal(signum, self._on_stop_signal) for signum in STOP_SIGNALS}
        children: list[Child] = []
        died: Child | None = None
        try:
            commands = dict(self._commands(host, port))
            for name, argv in commands.items():
                children.append(self._spawn(name, argv))
            self._banner(host, port, children)
            died = self._watch(children, commands)
        finally:
            self._stop(children)
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        if died is not None:
            raise CommandError(
                f"{died.name} (pid {died.pid}) exited unexpectedly with code "
                f"{died.process.returncode}; stopped the others.",
                returncode=1,
            )
        self.stdout.write("runconsole: all processes stopped.")

    def _on_stop_signal(self, signum: int, frame: FrameType | None) -> None:
        # Only record it: the main loop does the work outside the handler.
        self.stop_signals.append(signum)

    def _commands(self, host: str, port: int) -> list[tuple[str, list[str]]]:
        # `python -m` with this interpreter: the children get the same venv whatever PATH is.
        python = sys.executable
        bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return [
            (
                "web",
                [
                    python, "-m", "gunicorn", "console.wsgi:application",
                    "--bind", bind,
                    # gthread, but a connection takes a thread only once it sends bytes:
                    # idle sockets (browser preconnects) made writes wait seconds.
                    "--worker-class", "console.gunicorn_worker.ReadyThreadWorker",
                    # Four processes of two threads, not two of four: a short write then
                    # waits less behind a long page render holding its process's GIL.
                    "--workers", "4", "--threads", "2",
                    # Workers finish in-flight requests before our SIGKILL deadline.
                    "--graceful-timeout", str(int(GRACE_SECONDS) - 2),
                    "--access-logfile", "-",
                    # The default control socket is one per user ($HOME/.gunicorn), so a second
                    # console (a test run, another checkout) would fight over it.
                    "--no-control-socket",
                ],
            ),
            (
                "worker",
                [python, "-m", "celery", "-A", "console", "worker", "-l", "INFO",
                 "--concurrency", "2"],
            ),
            (
                "beat",
                [python, "-m", "celery", "-A", "console", "beat", "-l", "INFO",
                 "--schedule", str(settings.CELERY_BEAT_SCHEDULE_FILENAME)],
            ),
        ]  # fmt: skip

    def _spawn(self, name: str, argv: list[str]) -> Child:
        env = dict(os.environ)
        # --settings on our command line must reach the children too.
        env.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
        # Children share our terminal; unbuffered so their lines appear as they happen.
        env["PYTHONUNBUFFERED"] = "1"
        supervisor_pid = os.getpid()
        process = subprocess.Popen(
            argv,
            cwd=settings.BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            # Own session, own process group: the terminal's SIGINT reaches only us, and
            # os.killpg reaches the child's whole tree (gunicorn workers, Celery's pool).
            start_new_session=True,
            preexec_fn=lambda: _term_with_supervisor(supervisor_pid),
        )
        return Child(name, process)

    def _banner(self, host: str, port: int, children: list[Child]) -> None:
        url_host = f"[{host}]" if ":" in host else host
        password = env_str("DEMO_PASSWORD", "console-demo")
        lines = [
            "",
            f"Incident console: http://{url_host}:{port}/",
            f"  demo logins:  {', '.join(DEMO_USERS)}  (password: {password})",
            f"  database:     {self._describe_database()}",
            f"  broker:       {self._describe_broker()}",
            f"  DEBUG:        {settings.DEBUG}",
        ]
        if not settings.DEBUG and not (Path(settings.STATIC_ROOT) / "staticfiles.json").exists():
            lines.append("  warning:      DEBUG is off and collectstatic has not run: pages 500")
        lines += [f"  {child.name:<8}pid {child.pid}" for child in children]
        lines += ["Ctrl-C stops everything.", ""]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()

    def _describe_database(self) -> str:
        database = settings.DATABASES["default"]
        if database["ENGINE"].endswith("sqlite3"):
            return f"SQLite {database['NAME']}"
        if getattr(settings, "DATABASE_URL", ""):
            return redact_url(settings.DATABASE_URL)
        return f"{database['ENGINE']} {database.get('HOST', '')}/{database['NAME']}"

    def _describe_broker(self) -> str:
        url = settings.CELERY_BROKER_URL
        if url in ("filesystem://", "consolefs://"):
            return f"filesystem {getattr(settings, 'BROKER_DIR', '')}".rstrip()
        return redact_url(url)

    def _watch(self, children: list[Child], commands: dict[str, list[str]]) -> Child | None:
        """Block until a stop signal (None) or until the web server exits (its Child); a
        worker or beat that exits is restarted in place in `children`."""
        supervisor = Supervisor(
            spawn=lambda name: self._spawn(name, commands[name]),
            log=self._log_error,
            poll_seconds=POLL_SECONDS,
        )
        died = supervisor.watch(children, stop_requested=lambda: bool(self.stop_signals))
        if died is not None:
            return died
        self.stdout.write(
            f"\nrunconsole: {signal.Signals(self.stop_signals[0]).name} received, stopping "
            f"(up to {GRACE_SECONDS:.0f} s; press Ctrl-C again to kill at once)."
        )
        return None

    def _log_error(self, line: str) -> None:
        self.stderr.write(line)
        self.stderr.flush()

    def _stop(self, children: list[Child]) -> None:
        # SIGTERM goes to each leader first: gunicorn's master and Celery's main process run
        # their own graceful shutdown (finish requests, let running tasks end), while a SIGTERM
        # straight to Celery's pool processes kills the tasks they are running. Whatever is
        # left of a group once its leader has exited gets SIGTERM; at the deadline, SIGKILL.
        alive = [child for child in children if child.group_alive()]
        for child in alive:
            child.terminate()
        signals_seen = len(self.stop_signals)
        deadline = time.monotonic() + GRACE_SECONDS
        # A second Ctrl-C means "don't wait".
        while alive and time.monotonic() < deadline and len(self.stop_signals) == signals_seen:
            time.sleep(0.1)
            alive = [child for child in alive if child.group_alive()]
            for child in alive:
                child.terminate()
        for child in alive:
            self.stderr.write(f"runconsole: {child.name} (pid {child.pid}) still running, killing")
            child.signal_group(signal.SIGKILL)
        for child in children:
            child.process.wait()
        # Members killed by SIGKILL vanish once reaped by init; give that a moment so a
        # caller that checks the groups right after we exit finds them gone.
        deadline = time.monotonic() + 2
        while any(child.group_alive() for child in alive) and time.monotonic() < deadline:
            time.sleep(0.05)
