"""The embedded default cache is shared by processes and counts correctly across them."""

from __future__ import annotations

import multiprocessing

import pytest

from console.filecache import SharedFileCache

# Spawned, not forked: a fork of the test process (live-server and worker threads, open
# connections) can hang in a lock some thread held at the fork.
SPAWN = multiprocessing.get_context("spawn")


def make(location) -> SharedFileCache:
    return SharedFileCache(str(location), {"OPTIONS": {"MAX_ENTRIES": 5000}})


def _count(location, n: int) -> None:
    cache = make(location)
    for _ in range(n):
        cache.incr_expiring("hook-rate:1:0", 90)


def _add(location, results) -> None:
    results.put(make(location).add("kick:1", 1, 30))


def test_counts_from_four_processes_add_up(tmp_path):
    procs = [SPAWN.Process(target=_count, args=(tmp_path, 150)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert make(tmp_path).get("hook-rate:1:0") == 600


def test_add_succeeds_in_exactly_one_process(tmp_path):
    results = SPAWN.Queue()
    procs = [SPAWN.Process(target=_add, args=(tmp_path, results)) for _ in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert sorted(results.get(timeout=5) for _ in procs) == [False] * 5 + [True]


def test_a_set_in_one_process_is_seen_by_another(tmp_path):
    first, second = make(tmp_path), make(tmp_path)
    first.set("statuspage:version", "abc", None)
    assert second.get("statuspage:version") == "abc"
    second.set("statuspage:version", "def", None)
    assert first.get("statuspage:version") == "def"


def test_incr_keeps_the_expiry_and_refuses_a_missing_key(tmp_path, time_machine):
    time_machine.move_to("2026-12-01 10:00:00+00:00", tick=False)
    cache = make(tmp_path)
    with pytest.raises(ValueError):
        cache.incr("nothing")
    cache.set("n", 1, 60)
    time_machine.shift(50)
    assert cache.incr("n") == 2
    time_machine.shift(11)  # past the original 60 s: incr did not extend it
    assert cache.get("n") is None
    assert cache.incr_expiring("n", 60) == 1
