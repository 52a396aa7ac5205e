"""The REST API through gunicorn: list incidents, and read a 1,000-event timeline.

    apt-get install -y wrk
    .venv/bin/python bench/api.py                           # SQLite + local-memory cache
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/console_bench \
    REDIS_URL=redis://127.0.0.1:6379/8 .venv/bin/python bench/api.py

Starts gunicorn as deployed (2 gthread workers of 4 threads) with the production settings
plus bench/ingest_site.py's no-op view, seeds 500 open incidents (each with a service, a
commander and a note) and one incident with 1,000 timeline events, makes a lead's token with
`create_api_token`, then wrk GETs for --seconds, with the token: the no-op view, a page of 50
incidents, a page of 200, the 1,000-event timeline in one page, and the timeline with its
ETag (304). Queries per request are constant in data size (tests/api/test_incidents_api.py
asserts them at two sizes); this measures what a request costs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from ingest import environment, gunicorn, manage  # noqa: E402
from status import wrk  # noqa: E402

SETUP = """
from django.contrib.auth.models import Group, User
from incidents import actions
from incidents.models import Service
from incidents.permissions import LEAD
lead, _ = User.objects.get_or_create(username="bench-lead")
lead.groups.add(Group.objects.get(name=LEAD))
service, _ = Service.objects.get_or_create(name="bench-Payments")
for n in range(500):
    incident = actions.declare_incident(
        title=f"Bench incident {n:04d}", severity=f"P{n % 4}", declared_by=lead,
        services=[service],
    )
    actions.assign_role(incident, role="commander", user=lead, by=lead)
    actions.add_note(incident, text="Looked at the dashboards", by=lead)
big = actions.declare_incident(title="Bench long timeline", severity="P1", declared_by=lead)
for n in range(999):
    actions.add_note(big, text=f"note {n}: " + "details " * 10, by=lead)
print(big.pk)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    var_dir = tempfile.mkdtemp(prefix="console-api-")
    env = environment(var_dir)
    env["CACHE_KEY_PREFIX"] = f"bench-api-{os.getpid()}"
    # The benchmark measures the API, not its per-token rate limit.
    env["API_RATE_LIMIT_PER_MINUTE"] = "100000000"
    manage(env, "migrate", "--noinput", "-v0")
    big_id = int(manage(env, "shell", "-c", SETUP).strip().splitlines()[-1])
    token = (
        manage(env, "create_api_token", "bench-lead", "--name", "bench").strip().splitlines()[-1]
    )
    auth = {"Authorization": f"Bearer {token}"}
    port = 19000 + os.getpid() % 1000
    server = gunicorn(env, port)
    base = f"http://127.0.0.1:{port}"
    rows = {}
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        timeline = f"{base}/api/v1/incidents/{big_id}/timeline?limit=1000"
        first = httpx.get(timeline, headers=auth)
        if first.status_code != 200 or len(first.json()["items"]) != 1000:
            raise SystemExit(f"timeline answered {first.status_code}: {first.text[:300]}")
        rows["no-op JSON view"] = wrk(f"{base}/bench/noop/", args.seconds, args.connections)
        for limit in (50, 200):
            rows[f"GET /api/v1/incidents?limit={limit}"] = wrk(
                f"{base}/api/v1/incidents?limit={limit}", args.seconds, args.connections, auth
            )
        rows[f"GET timeline, 1,000 events ({len(first.content):,} bytes)"] = wrk(
            timeline, args.seconds, args.connections, auth
        )
        rows["GET timeline, If-None-Match → 304"] = wrk(
            timeline,
            args.seconds,
            args.connections,
            {**auth, "If-None-Match": first.headers["ETag"]},
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(var_dir, ignore_errors=True)
    database = "PostgreSQL" if env.get("DATABASE_URL") else "SQLite"
    cache = "Redis cache" if env.get("REDIS_URL") else "local-memory cache"
    print(
        f"{database}, {cache}, gunicorn 2 gthread workers x 4 threads, wrk -t2 "
        f"-c{args.connections} -d{args.seconds}s\n"
    )
    print("| endpoint | requests/s | p50 ms | p99 ms |\n|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['rate']:.0f} | {row['p50']:.1f} | {row['p99']:.1f} |")


if __name__ == "__main__":
    main()
