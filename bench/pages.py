"""Time the incident pages at a realistic worst case, in process, with Django's test Client.

    .venv/bin/python bench/pages.py                  # temporary SQLite database
    DATABASE_URL=postgres://... .venv/bin/python bench/pages.py --reset

Data: 2,000 open incidents (bulk-created, each with its 'declared' event) and one incident
with 1,000 timeline events. Each page is requested N times after a short warm-up; the report
gives median and p95 wall time and the queries each request ran. See bench/README.md.
"""

from __future__ import annotations

import argparse
import atexit
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BULK_INCIDENTS = 2_000
BIG_TIMELINE = 1_000
WARMUP = 3


def configure() -> None:
    # The settings refuse to start without SECRET_KEY unless DEBUG is on; DEBUG off would
    # also switch on the HTTPS redirect, which the test Client would follow as a 301.
    os.environ["DEBUG"] = "1"
    os.environ["DJANGO_SETTINGS_MODULE"] = "console.settings"
    if not os.environ.get("DATABASE_URL"):
        var_dir = tempfile.mkdtemp(prefix="console-bench-")
        os.environ["CONSOLE_VAR_DIR"] = var_dir
        atexit.register(shutil.rmtree, var_dir, ignore_errors=True)
    sys.path.insert(0, str(ROOT))

    import django

    django.setup()


@dataclass
class Result:
    name: str
    expected: int
    times_ms: list[float]
    queries: list[int]

    def row(self) -> str:
        low, high = min(self.queries), max(self.queries)
        queries = str(low) if low == high else f"{low}–{high}"
        return (
            f"| {self.name} | {self.expected} | {statistics.median(self.times_ms):.1f} "
            f"| {percentile(self.times_ms, 95):.1f} | {queries} |"
        )


def percentile(samples: list[float], p: int) -> float:
    """Nearest-rank percentile: a value that was actually measured."""
    ordered = sorted(samples)
    return ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)]


class BenchError(Exception):
    pass


def build_data(reset: bool):
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone

    from incidents import actions
    from incidents.models import ACK_TARGETS, Incident, RoleAssignment, Service, Severity
    from incidents.models import TimelineEvent as Event
    from incidents.permissions import RESPONDER

    call_command("migrate", verbosity=0, interactive=False)
    if Incident.objects.exists():
        if not reset:
            raise BenchError(
                "The database already holds incidents; pass --reset to empty it first "
                "(this deletes everything in it)."
            )
        # TRUNCATE on PostgreSQL: the append-only trigger refuses row deletes, not this.
        call_command("flush", verbosity=0, interactive=False)

    now = timezone.now()
    severities = list(Severity)
    with transaction.atomic():
        responder = User.objects.create_user("bench-responder", "bench@example.com")
        responder.groups.add(Group.objects.get(name=RESPONDER))
        services = Service.objects.bulk_create(
            Service(name=name, owner_team="Platform")
            for name in ["API gateway", "Web app", "PostgreSQL primary", "Redis cache"]
        )

        incidents = []
        for i in range(BULK_INCIDENTS):
            severity = severities[i % len(severities)]
            declared_at = now - timedelta(minutes=30 * (BULK_INCIDENTS - i))
            incidents.append(
                Incident(
                    title=f"Checkout returns 502 for some EU users (bench {i})",
                    summary="Synthetic incident for the page benchmark.",
                    severity=severity,
                    declared_by=responder,
                    declared_at=declared_at,
                    ack_due_at=declared_at + ACK_TARGETS[severity],
                )
            )
        # PostgreSQL and SQLite both return the new primary keys from bulk_create.
        incidents = Incident.objects.bulk_create(incidents, batch_size=500)
        Event.objects.bulk_create(
            (
                Event(
                    incident=incident,
                    kind=Event.Kind.DECLARED,
                    actor=responder,
                    at=incident.declared_at,
                    text=incident.title,
                    data={"severity": incident.severity, "services": []},
                )
                for incident in incidents
            ),
            batch_size=500,
        )
        Through = Incident.services.through
        Through.objects.bulk_create(
            (
                Through(incident_id=incident.pk, service_id=services[i % len(services)].pk)
                for i, incident in enumerate(incidents)
            ),
            batch_size=500,
        )
        # Every third incident has a commander, so the list's role prefetch has rows to find.
        RoleAssignment.objects.bulk_create(
            (
                RoleAssignment(
                    incident=incident,
                    role="commander",
                    user=responder,
                    assigned_by=responder,
                    started_at=incident.declared_at,
                )
                for incident in incidents[::3]
            ),
            batch_size=500,
        )

        big = actions.declare_incident(
            title="Redis evictions spiking, sessions dropped (long timeline)",
            severity=Severity.P1,
            declared_by=responder,
            services=services[:2],
            at=now - timedelta(hours=20),
        )
        start = big.declared_at
        Event.objects.bulk_create(
            (
                Event(
                    incident=big,
                    kind=Event.Kind.NOTE_ADDED,
                    actor=responder,
                    at=start + timedelta(seconds=60 * n),
                    text=f"Update {n}: evicted_keys still climbing, used_memory at 97% of "
                    "maxmemory. Checked the keyspace sizes again; nothing new since the "
                    "last note.",
                )
                for n in range(1, BIG_TIMELINE - 3)
            ),
            batch_size=500,
        )
        # Three pins, each writing its own event: 1 declared + 996 notes + 3 pins.
        for event in Event.objects.filter(incident=big, kind=Event.Kind.NOTE_ADDED)[:3]:
            actions.pin_note(big, event=event, by=responder)
    return responder, big


def measure(name: str, expected: int, n: int, send: Callable[[int], object], connection) -> Result:
    from django.test.utils import CaptureQueriesContext

    times, queries = [], []
    for i in range(WARMUP + n):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = send(i)
            elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != expected:
            raise BenchError(
                f"{name}: expected {expected}, got {response.status_code}: "
                f"{response.content[:300]!r}"
            )
        if i >= WARMUP:
            times.append(elapsed)
            queries.append(len(captured.captured_queries))
    return Result(name, expected, times, queries)


def run(n: int, reset: bool) -> list[Result]:
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    from incidents.models import TimelineEvent

    responder, big = build_data(reset)
    # Client speaks as host "testserver", which the DEBUG defaults don't allow.
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(responder)

    detail = f"/incidents/{big.pk}/"
    timeline = f"/incidents/{big.pk}/timeline/"
    # The page polls from the oldest event it shows, as live_context computes it.
    shown = TimelineEvent.objects.filter(incident=big).order_by("-id")
    since = shown.values_list("id", flat=True)[settings.TIMELINE_PAGE_SIZE - 1]
    poll = f"{timeline}?since={since}"

    first = client.get(poll)
    if first.status_code != 200 or not first.get("ETag"):
        raise BenchError(f"first poll: {first.status_code}, ETag {first.get('ETag')!r}")
    etag = first["ETag"]

    return [
        measure("GET /incidents/", 200, n, lambda i: client.get("/incidents/"), connection),
        measure("GET /incidents/<pk>/", 200, n, lambda i: client.get(detail), connection),
        measure("poll, changed", 200, n, lambda i: client.get(poll), connection),
        measure(
            "poll, unchanged (If-None-Match)",
            304,
            n,
            lambda i: client.get(poll, headers={"If-None-Match": etag}),
            connection,
        ),
        measure(
            "POST notes/ (htmx)",
            204,
            n,
            lambda i: client.post(
                f"/incidents/{big.pk}/notes/",
                {"text": f"Bench note {i}: failover drill step done."},
                headers={"HX-Request": "true"},
            ),
            connection,
        ),
    ]


def describe_database() -> str:
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
        return f"PostgreSQL {version} (127.0.0.1, psycopg {connection.Database.__version__})"
    return f"SQLite {connection.Database.sqlite_version} (temporary file, WAL)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=50, help="timed requests per page (default 50)")
    parser.add_argument(
        "--reset", action="store_true", help="empty a database that already holds incidents"
    )
    args = parser.parse_args()
    if not 1 <= args.n <= 10_000:
        parser.error("-n must be between 1 and 10000")

    configure()
    import django

    try:
        results = run(args.n, args.reset)
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 2

    print(
        f"{time.strftime('%Y-%m-%d')} · {describe_database()} · Python "
        f"{platform.python_version()}, Django {django.get_version()} · {os.cpu_count()} cores"
    )
    print(
        f"{BULK_INCIDENTS:,} open incidents + 1 with {BIG_TIMELINE:,} events; "
        f"N={args.n} after {WARMUP} warm-up requests\n"
    )
    print("| request | status | median ms | p95 ms | queries |")
    print("|---|---|---|---|---|")
    for result in results:
        print(result.row())
    return 0


if __name__ == "__main__":
    sys.exit(main())
