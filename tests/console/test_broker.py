"""The embedded broker (console.broker) under concurrent publisher processes and consumers.

Real processes on a real folder: Kombu's stock filesystem transport fails this (a consumer
reads a file its publisher has created but not yet written, 1.6–2.6 % of messages here).
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from pathlib import Path
from queue import Empty

import pytest
from kombu import Connection, Exchange, Queue
from kombu.exceptions import OperationalError

PUBLISHERS = 4
PER_PUBLISHER = 1500
# Big enough that a write is more than one syscall's worth on a busy disk.
BODY_PADDING = "x" * 2048


def transport_options(root: Path) -> dict[str, str]:
    return {
        "data_folder_in": str(root / "queue"),
        "data_folder_out": str(root / "queue"),
        "control_folder": str(root / "control"),
        "processed_folder": str(root / "processed"),
    }


def soak_queue(root: Path) -> Queue:
    # Kombu keeps bindings in one state per process (Transport.global_state), not per folder:
    # a name per folder, so a second test in this process binds its own queue.
    name = f"soak-{root.name}"
    return Queue(name, Exchange(name, type="direct"), routing_key=name)


def connection(root: Path) -> Connection:
    return Connection(
        "filesystem://",
        transport="console.broker:Transport",
        transport_options=transport_options(root),
    )


def publish(root: str, publisher: int, count: int, ready: multiprocessing.Barrier) -> None:
    queue = soak_queue(Path(root))
    with connection(Path(root)) as conn:
        producer = conn.Producer()
        ready.wait(120)
        for n in range(count):
            producer.publish(
                {"publisher": publisher, "n": n, "padding": BODY_PADDING},
                exchange=queue.exchange,
                routing_key=queue.routing_key,
                declare=[queue],
                serializer="json",
            )


def consume(
    root: str, results: multiprocessing.Queue, expected: int, ready: multiprocessing.Barrier
) -> None:
    """A second consumer process: what it gets, it reports as (publisher, n) pairs."""
    got = drain(Path(root), expected, time.monotonic() + 180, idle_seconds=10, ready=ready)
    results.put(got)


def drain(
    root: Path, expected: int, deadline: float, idle_seconds: float, ready=None
) -> list[tuple[int, int]]:
    queue = soak_queue(root)
    got: list[tuple[int, int]] = []
    with connection(root) as conn:
        simple = conn.SimpleQueue(queue)
        if ready is not None:
            # Every process connected before anyone starts: a slow start-up is not "idle".
            ready.wait(120)
        last = time.monotonic()
        while len(got) < expected and time.monotonic() < deadline:
            try:
                message = simple.get(block=False)
            except Empty:
                if time.monotonic() - last > idle_seconds:
                    break
                time.sleep(0.005)
                continue
            last = time.monotonic()
            body = message.payload
            assert body["padding"] == BODY_PADDING
            got.append((body["publisher"], body["n"]))
            message.ack()
        simple.close()
    return got


def folders(root: Path) -> None:
    for name in ("queue", "control", "processed"):
        (root / name).mkdir(parents=True)


def test_concurrent_publishers_and_consumers_get_every_message_once_and_whole(
    tmp_path: Path,
) -> None:
    folders(tmp_path)
    context = multiprocessing.get_context("spawn")
    # Publishers, the other consumer and this one start together.
    ready = context.Barrier(PUBLISHERS + 2)
    results = context.Queue()
    total = PUBLISHERS * PER_PUBLISHER
    publishers = [
        context.Process(target=publish, args=(str(tmp_path), p, PER_PUBLISHER, ready))
        for p in range(PUBLISHERS)
    ]
    other_consumer = context.Process(target=consume, args=(str(tmp_path), results, total, ready))
    for process in [*publishers, other_consumer]:
        process.start()
    # This process is the first consumer, racing the other for every file.
    mine = drain(tmp_path, total, time.monotonic() + 180, idle_seconds=10, ready=ready)
    for process in publishers:
        process.join(60)
        assert process.exitcode == 0
    theirs = results.get(timeout=60)
    other_consumer.join(30)
    assert other_consumer.exitcode == 0

    delivered = mine + theirs
    assert len(delivered) == total, (
        f"{total - len(delivered)} lost or {len(delivered) - total} extra"
    )
    assert set(delivered) == {(p, n) for p in range(PUBLISHERS) for n in range(PER_PUBLISHER)}
    # Both consumers really competed (otherwise "once" was not tested).
    assert mine and theirs
    # Nothing left behind: no half-written staging file, no claimed file never read.
    assert list((tmp_path / "queue").iterdir()) == []
    assert list((tmp_path / "claimed").iterdir()) == []
    assert [p for p in (tmp_path / "staging").iterdir()] == []


def test_a_message_that_cannot_be_decoded_is_moved_aside_and_the_next_one_delivered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folders(tmp_path)
    queue = soak_queue(tmp_path)
    # Named to sort before every message the transport writes (its names start with the
    # millisecond clock, never 0), whatever this machine's uptime.
    empty, garbage = f"0_empty.{queue.name}.msg", f"0_garbage.{queue.name}.msg"
    with connection(tmp_path) as conn:
        simple = conn.SimpleQueue(queue)
        # An empty file (what the stock transport's reader used to see) and garbage.
        (tmp_path / "queue" / empty).write_bytes(b"")
        (tmp_path / "queue" / garbage).write_bytes(b"\xff{not json")
        simple.put({"publisher": 0, "n": 7, "padding": BODY_PADDING})
        with caplog.at_level(logging.ERROR, logger="console.broker"):
            message = simple.get(timeout=5)
        assert message.payload["n"] == 7
        message.ack()
        simple.close()

    rejected = sorted(p.name for p in (tmp_path / "rejected").iterdir())
    assert rejected == [empty, garbage]
    assert (tmp_path / "rejected" / garbage).read_bytes() == b"\xff{not json"
    logged = [r.getMessage() for r in caplog.records if r.name == "console.broker"]
    assert len(logged) == 2
    assert f"{empty} could not be decoded (0 bytes); moved aside" in logged[0]


def test_publish_to_a_vanished_queue_folder_is_broker_unavailable(tmp_path: Path) -> None:
    """OperationalError is what console.queue falls back on (ran inline, not a 500)."""
    folders(tmp_path)
    queue = soak_queue(tmp_path)
    with connection(tmp_path) as conn:
        producer = conn.Producer()
        producer.publish({"n": 1}, exchange=queue.exchange, routing_key=queue.name, declare=[queue])
        (tmp_path / "queue").rename(tmp_path / "wiped")  # someone cleaned var/ under us
        with pytest.raises(OperationalError, match="cannot add message"):
            producer.publish({"n": 2}, exchange=queue.exchange, routing_key=queue.name)
    # The message that could not be queued left nothing behind in staging.
    assert list((tmp_path / "staging").iterdir()) == []
