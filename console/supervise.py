"""runconsole's supervision: a worker or beat that exits is started again; the web server is not.

The web server is what responders see, so it runs throughout: only its own death (or Ctrl-C)
stops the console. A Celery worker or beat that exits, whatever the reason (an unrecoverable
error, the OOM killer, `kill -9`), is restarted after a backoff that doubles with each quick
failure (1 s, 2 s, 4 s … up to 30 s) and goes back to 1 s once a child has stayed up for a
minute. At most RESTARTS_PER_MINUTE restarts of one child in any 60 s: past that the next
start waits until the oldest of them is a minute old, so a child that cannot start at all
(a broken config) is retried a few times a minute instead of in a tight loop. Every exit and
every restart is one line on stderr.
"""

from __future__ import annotations

import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

RESTARTABLE = frozenset({"worker", "beat"})
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
STABLE_AFTER_SECONDS = 60.0
RESTARTS_PER_MINUTE = 5
WINDOW_SECONDS = 60.0


class Supervised(Protocol):
    name: str

    @property
    def pid(self) -> int: ...

    def exited(self) -> int | None: ...

    def group_alive(self) -> bool: ...

    def signal_group(self, signum: int) -> None: ...


@dataclass
class RestartPolicy:
    """When the next start of one child may happen, from the times of its exits and starts."""

    first_backoff: float = FIRST_BACKOFF_SECONDS
    max_backoff: float = MAX_BACKOFF_SECONDS
    stable_after: float = STABLE_AFTER_SECONDS
    per_minute: int = RESTARTS_PER_MINUTE
    window: float = WINDOW_SECONDS
    backoff: float = 0.0
    restarts: deque[float] = field(default_factory=deque)

    def next_start(self, started_at: float, exited_at: float) -> float:
        """The time (same clock) at which a child that started and exited at these may start."""
        if exited_at - started_at >= self.stable_after or self.backoff == 0.0:
            self.backoff = self.first_backoff
        else:
            self.backoff = min(self.backoff * 2, self.max_backoff)
        at = exited_at + self.backoff
        while self.restarts and self.restarts[0] <= at - self.window:
            self.restarts.popleft()
        if len(self.restarts) >= self.per_minute:
            # The oldest restart in the window must be a minute old before another one.
            at = max(at, self.restarts[-self.per_minute] + self.window)
        return at

    def started(self, at: float) -> None:
        self.restarts.append(at)


@dataclass
class Pending:
    """A child that exited and waits for its restart."""

    name: str
    at: float
    old: Supervised


@dataclass
class Supervisor:
    """Watches the children; restarts worker and beat; returns when web dies or we are told."""

    spawn: Callable[[str], Supervised]
    log: Callable[[str], None]
    clock: Callable[[], float] = time.monotonic
    poll_seconds: float = 0.2
    policies: dict[str, RestartPolicy] = field(default_factory=dict)
    started_at: dict[str, float] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)

    def watch(
        self, children: list[Supervised], stop_requested: Callable[[], bool]
    ) -> Supervised | None:
        """Block until stop_requested() (returns None) or a child that can't be restarted
        exits (returns it). `children` is kept current: a restarted child replaces its
        predecessor in the list, so the caller stops what is running now."""
        now = self.clock()
        for child in children:
            self.started_at.setdefault(child.name, now)
        pending: dict[str, Pending] = {}
        while not stop_requested():
            for child in children:
                if child.name in pending:
                    continue
                code = child.exited()
                if code is None:
                    continue
                if child.name not in RESTARTABLE:
                    self.log(
                        f"runconsole: {child.name} (pid {child.pid}) exited with code {code}; "
                        "stopping the others."
                    )
                    return child
                pending[child.name] = self._schedule(child, code)
            now = self.clock()
            for name, due in list(pending.items()):
                if now < due.at:
                    continue
                del pending[name]
                index = next(i for i, c in enumerate(children) if c.name == name)
                children[index] = self._restart(due)
            time.sleep(self.poll_seconds)
        return None

    def _schedule(self, child: Supervised, code: int) -> Pending:
        now = self.clock()
        policy = self.policies.setdefault(child.name, RestartPolicy())
        at = policy.next_start(self.started_at.get(child.name, now), now)
        # Whatever the leader left behind (Celery's pool processes) goes now: orphans would
        # hold database transactions and take no more work.
        if child.group_alive():
            child.signal_group(signal.SIGTERM)
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"code {code}"
        recent = len(policy.restarts)
        self.log(
            f"runconsole: {child.name} (pid {child.pid}) exited with {how}; restarting in "
            f"{at - now:.0f} s ({recent} restart{'s' if recent != 1 else ''} in the last minute)."
        )
        return Pending(child.name, at, child)

    def _restart(self, due: Pending) -> Supervised:
        if due.old.group_alive():
            due.old.signal_group(signal.SIGKILL)
        child = self.spawn(due.name)
        now = self.clock()
        self.policies[due.name].started(now)
        self.started_at[due.name] = now
        self.restarts[due.name] = self.restarts.get(due.name, 0) + 1
        self.log(
            f"runconsole: {due.name} restarted, pid {child.pid} "
            f"(restart {self.restarts[due.name]} since start-up)."
        )
        return child
