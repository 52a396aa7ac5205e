"""Probe execution at scale: 1,000 HTTP probes against a slow server, and claiming 10,000.

    .venv/bin/python bench/probes.py                      # temporary SQLite database
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/console_bench \
        .venv/bin/python bench/probes.py --reset          # PostgreSQL; --reset empties it

1. An HTTP server in its own process (asyncio, so it never queues a request) answers every
   request after 200 ms. 1,000 HTTP probes point at it. Timed, in this process:
   - `run_many`: the 1,000 checks on one event loop (httpx AsyncClients, pools of 10), the
     way a worker runs a batch;
     the ratio to the 200 ms floor says how close to "as long as the slowest" it gets;
   - the same 1,000 split in PROBE_HTTP_BATCHES batches run by as many processes, as the
     dispatcher hands them to a prefork worker;
   - the worker task `run_http_batch` on all 1,000 probes: the checks plus recording 1,000
     results (state, flips) in the database.
2. 10,000 enabled probes all due: the dispatcher's `claim_due` taking all of them, then an
   empty claim (nothing due: the cost of every 5 s tick in a quiet period).

Each figure is the median of --repeat runs (default 3). See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import platform
import socket
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pages import configure  # noqa: E402

DELAY = 0.2
HTTP_PROBES = 1_000
CLAIM_PROBES = 10_000


def serve(port: int, ready) -> None:
    """A minimal HTTP/1.1 server: read the request head, wait DELAY, answer 200 JSON."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if not head:
                    return
                await asyncio.sleep(DELAY)
                body = b'{"status": "healthy"}'
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=4096)
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def timed(function) -> tuple[float, object]:
    start = time.perf_counter()
    value = function()
    return time.perf_counter() - start, value


def prepare_database(reset: bool) -> None:
    from django.core.management import call_command

    from probes.models import Probe

    call_command("migrate", verbosity=0, interactive=False)
    if Probe.objects.exists():
        if not reset:
            raise SystemExit("This database already holds probes; run with --reset to empty it.")
        call_command("flush", verbosity=0, interactive=False)


def make_probes(count: int, url: str, due_at) -> list[int]:
    from probes.models import Probe

    Probe.objects.all().delete()
    Probe.objects.bulk_create(
        (
            Probe(
                name=f"bench-{n:05d}",
                kind="http",
                config={
                    "url": url,
                    "method": "GET",
                    "expected_status": "2xx",
                    "follow_redirects": False,
                    "verify_tls": True,
                    "latency_warn_ms": None,
                    "latency_crit_ms": None,
                    "expect": [],
                    "headers": {},
                },
                timeout=timedelta(seconds=10),
                next_run_at=due_at,
            )
            for n in range(count)
        ),
        batch_size=1_000,
    )
    return list(Probe.objects.order_by("pk").values_list("pk", flat=True))


def bench_http(url: str, repeat: int) -> list[tuple[str, float, str]]:
    from django.conf import settings
    from django.utils import timezone

    from probes import tasks
    from probes.checkers import http
    from probes.models import ProbeResult

    config = http.clean({"url": url})
    checks = [(n, config, 10.0) for n in range(HTTP_PROBES)]
    http.run_many(checks[:50])  # warm-up: imports, TLS context, connection setup
    walls, statuses = [], []
    for _ in range(repeat):
        wall, results = timed(lambda: http.run_many(checks))
        walls.append(wall)
        statuses.append(sum(r.status == "ok" for r in results.values()))
    rows = [
        (
            f"run_many: {HTTP_PROBES} HTTP checks on one event loop",
            statistics.median(walls),
            f"{min(statuses)}/{HTTP_PROBES} ok; {statistics.median(walls) / DELAY:.1f}× the "
            f"{DELAY * 1000:.0f} ms floor",
        )
    ]
    # As deployed: the dispatcher splits the due HTTP probes into PROBE_HTTP_BATCHES batches
    # (2 by default) that a prefork worker runs in separate processes.
    batches = settings.PROBE_HTTP_BATCHES
    parts = [checks[i::batches] for i in range(batches)]
    with multiprocessing.get_context("fork").Pool(batches) as pool:
        pool.map(http.run_many, [part[:20] for part in parts])  # warm the processes
        split = []
        for _ in range(repeat):
            wall, answers = timed(lambda: pool.map(http.run_many, parts))
            split.append(wall)
    ok = sum(r.status == "ok" for answer in answers for r in answer.values())
    rows.append(
        (
            f"run_many: {HTTP_PROBES} HTTP checks in {batches} worker processes",
            statistics.median(split),
            f"{ok}/{HTTP_PROBES} ok; {statistics.median(split) / DELAY:.1f}× the floor",
        )
    )
    ids = make_probes(HTTP_PROBES, url, timezone.now())
    batch_walls = []
    for _ in range(repeat):
        ProbeResult.objects.all().delete()
        wall, _ = timed(lambda: tasks.run_http_batch(ids))
        batch_walls.append(wall)
    ok = ProbeResult.objects.filter(status="ok").count()
    rows.append(
        (
            f"task run_http_batch: {HTTP_PROBES} checks + results recorded",
            statistics.median(batch_walls),
            f"{ok}/{HTTP_PROBES} results ok",
        )
    )
    return rows


def bench_claim(repeat: int) -> list[tuple[str, float, str]]:
    from django.db import connection
    from django.utils import timezone

    from probes import engine
    from probes.models import Probe

    make_probes(CLAIM_PROBES, "http://127.0.0.1:9/", timezone.now() - timedelta(seconds=1))
    full, empty, counts, queries = [], [], [], []
    for _ in range(repeat):
        Probe.objects.update(next_run_at=timezone.now() - timedelta(seconds=1), claim_token="")
        now = timezone.now()
        executed: list[str] = []

        def count(execute, sql, params, many, context, executed=executed):
            executed.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            wall, claimed = timed(lambda now=now: engine.claim_due(now))
        full.append(wall)
        counts.append(len(claimed))
        queries.append(len(executed))
        wall, nothing = timed(lambda now=now: engine.claim_due(now))
        assert nothing == []
        empty.append(wall)
    return [
        (
            f"claim_due: {CLAIM_PROBES:,} due probes",
            statistics.median(full),
            f"{min(counts):,} claimed in {max(queries)} queries",
        ),
        ("claim_due: nothing due", statistics.median(empty), "a quiet tick"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reset", action="store_true", help="empty a database holding probes")
    args = parser.parse_args()
    configure()
    from django.db import connection

    prepare_database(args.reset)

    port = free_port()
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=serve, args=(port, ready), daemon=True)
    server.start()
    if not ready.wait(10):
        raise SystemExit("the benchmark's HTTP server did not start")
    try:
        rows = bench_http(f"http://127.0.0.1:{port}/health", args.repeat)
        rows += bench_claim(args.repeat)
    finally:
        server.terminate()
        server.join(5)

    if connection.vendor == "sqlite":
        database = f"SQLite {connection.Database.sqlite_version}"
    else:
        database = f"PostgreSQL {connection.pg_version}"
    print(f"{database}, Python {platform.python_version()}, median of {args.repeat}\n")
    print("| what | wall s | notes |\n|---|---|---|")
    for name, wall, notes in rows:
        print(f"| {name} | {wall:.3f} | {notes} |")


if __name__ == "__main__":
    main()
