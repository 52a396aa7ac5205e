"""Alert intake throughput through gunicorn, against a no-op view on the same server.

    apt-get install -y wrk                                  # the load generator
    .venv/bin/python bench/ingest.py                        # SQLite + filesystem broker
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/console_bench \
    REDIS_URL=redis://127.0.0.1:6379/8 .venv/bin/python bench/ingest.py --reset

Starts gunicorn as deployed (Dockerfile, docker-compose.yml, runconsole: 2 gthread workers
of 4 threads) on 127.0.0.1 with the production settings (DEBUG off) plus two extra URLs behind
the same middleware: `/bench/noop/`, a JSON view that does nothing (the ceiling), and
`/bench/store/`, which only stores the body as a pending delivery (the floor a durable intake
can't go under: one committed INSERT). wrk posts the same Alertmanager group for --seconds to
each, and to `/hooks/alertmanager/<token>/`, which authenticates, bounds and validates the
body, rate-limits, stores the delivery and queues its processing. No worker runs: this
measures intake, not processing. Reports requests/s, p50 and p99 latency, and each endpoint's
share of the no-op ceiling.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from tests.incidents.payloads import ALERTMANAGER  # noqa: E402  (the tests' payload)

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[%s]]
"""


def environment(var_dir: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "ingest_site",
            "PYTHONPATH": f"{ROOT}{os.pathsep}{BENCH}",
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "SECURE_SSL_REDIRECT": "0",
            "ALLOWED_HOSTS": "127.0.0.1",
            "CONSOLE_VAR_DIR": var_dir,
            "LOG_LEVEL": "WARNING",
        }
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode:
        raise SystemExit(result.stderr[-2000:])
    return result.stdout


# Before the storm: wrk's thousands of stored-only deliveries out of the way (processed: the
# storm's drain is measured on its own deliveries).
DRAIN_ALL = """
from incidents.intake.models import InboundEvent
from incidents.models import Incident
InboundEvent.objects.filter(state="pending").update(state="dropped")
"""

SETUP = """
from incidents.intake.models import Integration, InboundEvent
from incidents.models import Incident
if {reset}:
    InboundEvent.objects.all().delete()
    Integration.objects.filter(name="bench").delete()
integration = Integration(kind="alertmanager", name="bench", rate_limit_per_minute=10**9)
token = integration.new_token()
integration.save()
print(token)
"""


def gunicorn(env: dict[str, str], port: int, workers: int = 2, threads: int = 4):
    """The console's web server as deployed (Dockerfile, docker-compose.yml, runconsole):
    gthread workers, here on 127.0.0.1."""
    return subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "console.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--worker-class",
            "gthread",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )


def worker(env: dict[str, str], concurrency: int = 2):
    """A Celery worker as deployed (docker-compose.yml: prefork, concurrency 2)."""
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "console", "worker", "--concurrency",
         str(concurrency), "--without-mingle", "--without-gossip", "-l", "WARNING"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def storm_payload(group: int, n: int) -> str:
    """Delivery n of group `group`: its two alerts, the second resolving every 7th time."""
    body = json.loads(json.dumps(ALERTMANAGER))
    body["groupKey"] = f'{{}}:{{alertname="Storm{group}"}}'
    body["commonLabels"]["alertname"] = f"Storm{group}"
    for index, alert in enumerate(body["alerts"]):
        alert["labels"]["alertname"] = f"Storm{group}"
        alert["fingerprint"] = f"storm{group:03d}{index}"
    if n % 7 == 6:
        body["alerts"][1]["status"] = "resolved"
    return json.dumps(body)


def warm_up(base: str, token: str) -> None:
    """One delivery, processed: the worker is consuming (its start takes seconds)."""
    hook = f"{base}/hooks/alertmanager/{token}/"
    httpx.post(hook, content=storm_payload(999, 0), headers={"Content-Type": "application/json"})
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if not httpx.get(f"{base}/bench/progress/").json()["states"].get("pending"):
            return
        time.sleep(0.2)
    raise SystemExit("the worker processed nothing within 180 s")


def storm(base: str, token: str, total: int, groups: int, clients: int) -> dict:
    """`total` deliveries over `groups` groups from `clients` concurrent clients, then the
    wait until every one is processed: the drain's figures."""
    import threading

    hook = f"{base}/hooks/alertmanager/{token}/"
    bodies = [storm_payload(i % groups, i // groups) for i in range(total)]
    statuses: list[int] = []
    last_accept = [0.0]
    lock = threading.Lock()

    def send(part: list[str]) -> None:
        with httpx.Client(timeout=30) as client:
            for body in part:
                answer = client.post(
                    hook, content=body, headers={"Content-Type": "application/json"}
                )
                with lock:
                    statuses.append(answer.status_code)
                    last_accept[0] = time.monotonic()

    started = time.monotonic()
    threads = [threading.Thread(target=send, args=(bodies[i::clients],)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent = last_accept[0] - started
    with httpx.Client(timeout=10) as client:
        backlog = client.get(f"{base}/bench/progress/").json()["states"].get("pending", 0)
    deadline = time.monotonic() + 300
    with httpx.Client(timeout=10) as client:
        while time.monotonic() < deadline:
            progress = client.get(f"{base}/bench/progress/").json()
            if not progress["states"].get("pending"):
                break
            time.sleep(0.05)
    drained = time.monotonic() - last_accept[0]
    return {
        "accepted": statuses.count(202),
        "other": len(statuses) - statuses.count(202),
        "send_s": sent,
        "request_rate": total / sent,
        "drain_after_last_s": drained,
        "drain_rate": total / (sent + drained),
        "progress": progress,
        "backlog": backlog,
    }


def wrk(url: str, body: str, seconds: int, connections: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA % body)
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{connections}",
                f"-d{seconds}s",
                "--latency",
                "-s",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rate": rate,
        "p50": latency(out, "50%"),
        "p99": latency(out, "99%"),
        "errors": int(non_2xx.group(1)) if non_2xx else 0,
        "raw": out,
    }


def latency(out: str, label: str) -> float:
    match = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--reset", action="store_true", help="empty the deliveries first")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--storm", type=int, default=2000, help="deliveries in the storm (0: none)")
    parser.add_argument("--storm-groups", type=int, default=20)
    parser.add_argument("--redis-down", action="store_true",
                        help="point broker and cache at a port nobody listens on")  # fmt: skip
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    var_dir = tempfile.mkdtemp(prefix="console-ingest-")
    env = environment(var_dir)
    if args.redis_down:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            env["REDIS_URL"] = f"redis://127.0.0.1:{probe.getsockname()[1]}/0"
    manage(env, "migrate", "--noinput", "-v0")
    token = manage(env, "shell", "-c", SETUP.format(reset=args.reset)).split()[-1]
    port = 18000 + os.getpid() % 1000
    server = gunicorn(env, port, args.workers, args.threads)
    base = f"http://127.0.0.1:{port}"
    body = json.dumps(ALERTMANAGER)
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        hook = f"{base}/hooks/alertmanager/{token}/"
        check = httpx.post(hook, content=body, headers={"Content-Type": "application/json"})
        if check.status_code != 202:
            raise SystemExit(f"the hook answered {check.status_code}: {check.text[:300]}")
        noop = wrk(f"{base}/bench/noop/", body, args.seconds, args.connections)
        store = wrk(f"{base}/bench/store/", body, args.seconds, args.connections)
        # The store-only rows out of the way: with the broker down the hook processes what
        # is pending, and they are not the intake's.
        manage(env, "shell", "-c", DRAIN_ALL)
        intake = wrk(hook, body, args.seconds, args.connections)
        drain = None
        if args.storm and not args.redis_down:
            manage(env, "shell", "-c", DRAIN_ALL)  # what wrk left, before the storm
            consumer = worker(env)
            try:
                warm_up(base, token)  # the worker is up and has drained once
                drain = storm(base, token, args.storm, args.storm_groups, args.connections)
            finally:
                consumer.terminate()
                consumer.wait(timeout=30)
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(var_dir, ignore_errors=True)
    database = "PostgreSQL" if env.get("DATABASE_URL") else "SQLite"
    broker = "Redis" if env.get("REDIS_URL") else "filesystem"
    print(
        f"{database}, {broker} broker, gunicorn {args.workers} gthread workers x "
        f"{args.threads} threads, wrk -t2 -c{args.connections} -d{args.seconds}s\n"
    )
    print(
        "| endpoint | requests/s | p50 ms | p99 ms | non-2xx | share of no-op |\n"
        "|---|---|---|---|---|---|"
    )
    rows = (
        ("no-op JSON view", noop),
        ("store only (one committed INSERT)", store),
        ("Alertmanager intake", intake),
    )
    for name, row in rows:
        print(
            f"| {name} | {row['rate']:.0f} | {row['p50']:.1f} | {row['p99']:.1f} "
            f"| {row['errors']} | {row['rate'] / noop['rate']:.0%} |"
        )
    print(f"\nIntake runs at {intake['rate'] / noop['rate']:.0%} of the no-op view's rate.")
    if drain:
        print(
            f"\nStorm: {args.storm} deliveries over {args.storm_groups} groups from "
            f"{args.connections} clients, one worker (concurrency 2): "
            f"{drain['accepted']} accepted ({drain['other']} other) in {drain['send_s']:.1f} s "
            f"({drain['request_rate']:.0f} req/s); all processed "
            f"{drain['drain_after_last_s']:.2f} s after the last 202 "
            f"({drain['drain_rate']:.0f} deliveries/s end to end; {drain['backlog']} pending "
            "at the last 202); "
            f"states {drain['progress']['states']}, incidents {drain['progress']['incidents']}, "
            f"open without alerts {drain['progress']['empty_open']}."
        )


if __name__ == "__main__":
    main()
