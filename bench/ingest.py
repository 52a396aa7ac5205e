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
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    var_dir = tempfile.mkdtemp(prefix="console-ingest-")
    env = environment(var_dir)
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
        intake = wrk(hook, body, args.seconds, args.connections)
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


if __name__ == "__main__":
    main()
