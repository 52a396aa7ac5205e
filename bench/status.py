"""The public status page under load: /status.json and /status/ through gunicorn.

    apt-get install -y wrk
    .venv/bin/python bench/status.py                        # SQLite + the embedded file cache
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/console_bench \
    REDIS_URL=redis://127.0.0.1:6379/8 .venv/bin/python bench/status.py

Starts gunicorn as deployed (2 gthread workers of 4 threads) with the production settings
plus bench/ingest_site.py's no-op view, seeds a public page (4 components, one open incident
with 3 updates, 20 resolved ones in the history), then wrk GETs for --seconds the no-op view,
/status.json, /status/ and /status.json with the ETag it got (304s). A status page answer is
built once per change and then served from the cache without touching the database, so it
should run close to the no-op ceiling.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from ingest import environment, gunicorn, latency, manage  # noqa: E402

SETUP = """
from datetime import timedelta
from django.utils import timezone
from incidents import actions
from incidents.models import Service
from incidents.statuspage.actions import publish_update
from django.contrib.auth.models import User
user, _ = User.objects.get_or_create(username="bench-communicator")
services = []
for n, name in enumerate(["Dashboard", "Public API", "Payments", "Email"]):
    service, _ = Service.objects.update_or_create(
        name=f"bench-{name}", defaults={"public": True, "public_name": name, "position": n}
    )
    services.append(service)
now = timezone.now()
for n in range(20):
    at = now - timedelta(days=n * 4 + 1)
    incident = actions.declare_incident(
        title=f"past {n}", severity=f"P{n % 4}", declared_by=user, services=[services[n % 4]],
        at=at,
    )
    for minutes, status in ((5, "investigating"), (30, "identified"), (60, "resolved")):
        publish_update(incident, title=f"Past incident {n}", status=status,
                       body="Some requests failed; fixed. " * 4, components=[services[n % 4]],
                       by=user, at=at + timedelta(minutes=minutes))
    actions.change_status(incident, to="resolved", by=user, at=at + timedelta(minutes=61))
incident = actions.declare_incident(title="open", severity="P1", declared_by=user,
                                    services=[services[2]])
for status in ("investigating", "identified", "monitoring"):
    publish_update(incident, title="Card payments failing", status=status,
                   body="We are working on it. " * 5, components=[services[2]], by=user)
print("ok")
"""


def wrk(url: str, seconds: int, connections: int, headers: dict | None = None) -> dict:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run(
        [*command, url], capture_output=True, text=True, timeout=seconds + 60, check=True
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return {"rate": rate, "p50": latency(out, "50%"), "p99": latency(out, "99%")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    var_dir = tempfile.mkdtemp(prefix="console-status-")
    env = environment(var_dir)
    env["CACHE_KEY_PREFIX"] = f"bench-status-{os.getpid()}"
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "collectstatic", "--noinput", "-v0")  # the HTML names hashed static files
    manage(env, "shell", "-c", SETUP)
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
        first = httpx.get(f"{base}/status.json")
        if first.status_code != 200 or not first.json()["incidents"]:
            raise SystemExit(f"/status.json answered {first.status_code}: {first.text[:300]}")
        size = len(first.content)
        rows["no-op JSON view"] = wrk(f"{base}/bench/noop/", args.seconds, args.connections)
        rows[f"/status.json ({size:,} bytes)"] = wrk(
            f"{base}/status.json", args.seconds, args.connections
        )
        rows["/status/ (HTML)"] = wrk(f"{base}/status/", args.seconds, args.connections)
        rows["/status.json, If-None-Match → 304"] = wrk(
            f"{base}/status.json",
            args.seconds,
            args.connections,
            headers={"If-None-Match": first.headers["ETag"]},
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(var_dir, ignore_errors=True)
    database = "PostgreSQL" if env.get("DATABASE_URL") else "SQLite"
    cache = "Redis cache" if env.get("REDIS_URL") else "embedded file cache"
    print(
        f"{database}, {cache}, gunicorn 2 gthread workers x 4 threads, wrk -t2 "
        f"-c{args.connections} -d{args.seconds}s\n"
    )
    print("| endpoint | requests/s | p50 ms | p99 ms |\n|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['rate']:.0f} | {row['p50']:.1f} | {row['p99']:.1f} |")


if __name__ == "__main__":
    main()
