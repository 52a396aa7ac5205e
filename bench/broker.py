"""The embedded broker's candidates under concurrent publishers and consumers.

    .venv/bin/python bench/broker.py                       # console.broker vs Kombu's filesystem
    pip install --target /tmp/sqla sqlalchemy              # to compare the SQLAlchemy transport too
    PYTHONPATH=/tmp/sqla .venv/bin/python bench/broker.py

Each transport gets a fresh folder (or SQLite file). --publishers processes publish --messages
each (a 2 KiB JSON body, as Celery's task messages are), while --consumers processes drain the
queue. Reported: wall time until all were consumed (or the consumers went idle), messages/s,
and what went wrong: lost, delivered twice, unreadable (the JSONDecodeError that killed the
worker), or broker errors ("database is locked").
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path
from queue import Empty

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

PADDING = "x" * 2048


def connection(transport: str, root: Path):
    from kombu import Connection

    if transport == "sqlalchemy":
        return Connection(f"sqla+sqlite:///{root / 'broker.sqlite3'}")
    options = {
        "data_folder_in": str(root / "queue"),
        "data_folder_out": str(root / "queue"),
        "control_folder": str(root / "control"),
        "processed_folder": str(root / "processed"),
    }
    kind = "console.broker:Transport" if transport == "console" else "filesystem"
    return Connection("filesystem://", transport=kind, transport_options=options)


def queue():
    from kombu import Exchange, Queue

    return Queue("bench", Exchange("bench", type="direct"), routing_key="bench")


def publish(transport: str, root: str, publisher: int, count: int, start, errors) -> None:
    start.wait(60)
    failed, reason = 0, ""
    try:
        with connection(transport, Path(root)) as conn:
            producer = conn.Producer()
            for n in range(count):
                try:
                    producer.publish(
                        {"p": publisher, "n": n, "pad": PADDING},
                        exchange=queue().exchange,
                        routing_key="bench",
                        declare=[queue()],
                        serializer="json",
                    )
                except Exception as exc:  # noqa: BLE001 - counted: "database is locked" and co
                    failed += 1
                    reason = reason or repr(exc)[:200]
    except Exception as exc:  # noqa: BLE001 - the publisher could not even start
        failed, reason = count, repr(exc)[:200]
    errors.put((reason, failed))


def consume(transport: str, root: str, expected: int, results, start) -> None:
    start.wait(60)
    got, unreadable, failed = [], 0, 0
    last = time.monotonic()
    with connection(transport, Path(root)) as conn:
        simple = conn.SimpleQueue(queue())
        while len(got) < expected and time.monotonic() - last < 5:
            try:
                message = simple.get(block=False)
            except Empty:
                time.sleep(0.005)
                continue
            except ValueError:  # JSONDecodeError: a file read before it was written
                unreadable += 1
                last = time.monotonic()
                continue
            except Exception:  # noqa: BLE001
                failed += 1
                time.sleep(0.01)
                continue
            last = time.monotonic()
            body = message.payload
            got.append((body["p"], body["n"]) if body.get("pad") == PADDING else ("torn", 0))
            message.ack()
        with contextlib.suppress(Exception):
            simple.close()
    results.put((got, unreadable, failed, time.monotonic()))


def run(transport: str, publishers: int, messages: int, consumers: int) -> dict:
    root = Path(tempfile.mkdtemp(prefix=f"broker-{transport}-"))
    for name in ("queue", "control", "processed"):
        (root / name).mkdir()
    # Declare once up front, as a worker does at start-up.
    with connection(transport, root) as conn:
        conn.SimpleQueue(queue()).close()
    context = multiprocessing.get_context("spawn")
    start, results, errors = context.Event(), context.Queue(), context.Queue()
    total = publishers * messages
    procs = [
        context.Process(target=publish, args=(transport, str(root), p, messages, start, errors))
        for p in range(publishers)
    ] + [
        context.Process(target=consume, args=(transport, str(root), total, results, start))
        for _ in range(consumers)
    ]
    for proc in procs:
        proc.start()
    time.sleep(2)  # every process imported and connected
    began = time.monotonic()
    start.set()
    outcomes = [results.get(timeout=600) for _ in range(consumers)]
    published = [errors.get(timeout=120) for _ in range(publishers)]
    publish_failed = sum(failed for _, failed in published)
    reasons = {reason for reason, _ in published if reason}
    for proc in procs:
        proc.join(60)
    delivered = [item for got, *_ in outcomes for item in got]
    finished = max(at for *_, at in outcomes) - 5  # the consumers' idle wait
    unique = set(delivered)
    return {
        "transport": transport,
        "messages": total,
        "seconds": max(finished - began, 0.001),
        "lost": total - len(unique - {("torn", 0)}) - publish_failed,
        "twice": len(delivered) - len(unique),
        "unreadable": sum(o[1] for o in outcomes) + delivered.count(("torn", 0)),
        "errors": sum(o[2] for o in outcomes) + publish_failed,
        "reasons": reasons,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--publishers", type=int, default=4)
    parser.add_argument("--messages", type=int, default=1500, help="per publisher")
    parser.add_argument("--consumers", type=int, default=2)
    parser.add_argument("--only", help="one transport: console, filesystem or sqlalchemy")
    args = parser.parse_args()
    transports = ["console", "filesystem"]
    if importlib.util.find_spec("sqlalchemy"):
        transports.append("sqlalchemy")
    if args.only:
        transports = [args.only]
    print(
        f"{args.publishers} publisher processes × {args.messages} messages, "
        f"{args.consumers} consumer processes"
    )
    header = ("transport", "msgs/s", "lost", "twice", "unreadable", "errors")
    print("{:<12} {:>7} {:>6} {:>6} {:>10} {:>7}".format(*header))
    for transport in transports:
        r = run(transport, args.publishers, args.messages, args.consumers)
        print(
            f"{r['transport']:<12} {r['messages'] / r['seconds']:>7.0f} {r['lost']:>6} "
            f"{r['twice']:>6} {r['unreadable']:>10} {r['errors']:>7}"
        )
        for reason in r["reasons"]:
            print(f"  {transport} publish error: {reason}")


if __name__ == "__main__":
    main()
