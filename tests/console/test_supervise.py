"""runconsole's restart policy: backoff doubling on quick failures, a limit per minute."""

from __future__ import annotations

from console.supervise import RestartPolicy


def restart(policy: RestartPolicy, started: float, exited: float) -> float:
    at = policy.next_start(started, exited)
    policy.started(at)
    return at


def test_backoff_doubles_while_the_child_keeps_failing_and_resets_once_it_stayed_up() -> None:
    policy = RestartPolicy(per_minute=100)
    started, delays = 0.0, []
    for _ in range(7):
        exited = started + 0.5  # dies half a second after each start
        at = restart(policy, started, exited)
        delays.append(at - exited)
        started = at
    assert delays == [1, 2, 4, 8, 16, 30, 30]
    # Up for more than a minute, then dies: back to the first backoff.
    assert restart(policy, started, started + 61) - (started + 61) == 1


def test_at_most_five_restarts_in_any_minute() -> None:
    policy = RestartPolicy(first_backoff=1, max_backoff=1)
    starts = []
    started = 0.0
    for _ in range(7):
        started = restart(policy, started, started + 0.1)
        starts.append(round(started, 6))
    assert starts[:5] == [1.1, 2.2, 3.3, 4.4, 5.5]
    # The sixth waits until the first of those five is a minute old, the seventh the second.
    assert starts[5] == 61.1
    assert starts[6] == 62.2
    for earlier, later in zip(starts, starts[5:], strict=False):
        assert later - earlier >= 60
