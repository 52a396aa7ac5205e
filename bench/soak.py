"""A night on `make run`: the whole console under a bounded mixed load, watched for deaths.

    .venv/bin/python bench/soak.py                       # embedded default, 10 minutes
    .venv/bin/python bench/soak.py --duration 180        # three minutes
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/console_bench \
    REDIS_URL=redis://127.0.0.1:6379/8 .venv/bin/python bench/soak.py --duration 180

Sets up a fresh console in a temporary var dir (migrate, seed_demo, plus what the load needs:
a dozen HTTP probes due every 10 s against a local HTTP server, an Alertmanager integration,
escalation webhooks to the same local server) and starts `manage.py runconsole` exactly as
`make run` does: gunicorn, a Celery worker, beat, supervised. Then, for --duration seconds:

- --clients responders (logged in as the demo lead, each its own session), each in a loop:
  declare an incident, attach a runbook checklist, note, tick steps, run a step's check,
  acknowledge, change status, note again, resolve; each also keeps one long-lived incident
  whose timeline grows the whole run (a note on it every cycle), because writes on old
  incidents were the slow ones. After every write the client re-reads the timeline, as the
  page does on `incident-changed`. Think time 0.2–0.6 s between requests.
- an alert sender posting an Alertmanager group every 2 s (processed by the worker);
- "Run now" on a probe every 3 s (a CheckRequest the worker must answer);
- six idle connections held open and replaced every 8 s (browser preconnects), which is
  what made writes wait seconds on gunicorn's stock gthread worker;
- beat's own sweeps and the probe dispatcher, as scheduled.

At the end it waits (up to 120 s) for the queue to drain and reports: worker/beat restarts
and worker crashes seen in runconsole's log, p50/p99/max per action, errors, and whether
every queued task ran (every CheckRequest has its result, every alert delivery is processed,
no escalation delivery left pending, no message left in or rejected by the broker).
Needs only the venv. Exit status 1 when a goal is missed (restarts, lost tasks, p99 ≥ 300 ms).
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from tests.incidents.payloads import ALERTMANAGER  # noqa: E402  (the tests' payload)

WRITES = ("declare", "note", "tick", "acknowledge", "status", "resolve")
GOAL_P99_MS = 300.0

SETUP = """
import json
from datetime import timedelta
from incidents.intake.models import Integration
from probes.models import Probe
from runbooks.models import Scenario
integration = Integration(kind="alertmanager", name="soak", rate_limit_per_minute=10**9)
token = integration.new_token()
integration.save()
probes = []
for n in range({probes}):
    probe = Probe(name=f"soak http {{n}}", kind="http", interval=timedelta(seconds=10),
                  timeout=timedelta(seconds=2), config={{"url": "{target}/ok/{{n}}"}})
    probe.full_clean()  # fills the checker's defaults into config
    probe.save()
    probes.append(probe.pk)
scenarios = list(Scenario.objects.values_list("pk", flat=True)[:6])
print(json.dumps({{"token": token, "probes": probes, "scenarios": scenarios}}))
"""

VERIFY = """
import json
from incidents.escalation.models import NotificationDelivery
from incidents.intake.models import InboundEvent
from probes.models import CheckRequest, Probe
print(json.dumps({
    "check_requests": CheckRequest.objects.count(),
    "check_requests_unanswered": CheckRequest.objects.filter(result__isnull=True).count(),
    "alert_deliveries": InboundEvent.objects.count(),
    "alert_deliveries_pending": InboundEvent.objects.filter(state="pending").count(),
    "escalation_deliveries": NotificationDelivery.objects.count(),
    "escalation_deliveries_pending": NotificationDelivery.objects.filter(
        state__in=["pending", "sending"]).count(),
    "probes_never_run": Probe.objects.filter(name__startswith="soak", last_checked_at__isnull=True)
        .count(),
}))
"""


# -- a local HTTP server: probe target and escalation webhook receiver ---------------------------
class Target(http.server.BaseHTTPRequestHandler):
    hits: dict[str, int] = defaultdict(int)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        Target.hits["probe"] += 1
        self._reply()

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        Target.hits["webhook"] += 1
        self._reply()

    def _reply(self) -> None:
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


# -- measuring -----------------------------------------------------------------------------------
@dataclass
class Stats:
    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)
    retried: int = 0

    def add(self, action: str, seconds: float, error: str | None = None) -> None:
        with self.lock:
            self.times[action].append(seconds * 1000)
            if error:
                self.errors[action].append(error)


def send(stats: Stats, request: Callable[[], httpx.Response]) -> httpx.Response:
    """One request; sent again once if the server closed the kept-alive connection under it
    before answering (a keep-alive race every browser retries on its own too)."""
    try:
        return request()
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
        with stats.lock:
            stats.retried += 1
        return request()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


# -- the console ---------------------------------------------------------------------------------
def environment(var_dir: Path, port: int, target: str) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE", "CONSOLE_VAR_DIR"):
        env.pop(name, None)
    env.update(
        {
            "DEBUG": "1",  # as `make run`
            "CONSOLE_VAR_DIR": str(var_dir),
            "PORT": str(port),
            "PYTHONUNBUFFERED": "1",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ESCALATION_WEBHOOK_URL": f"{target}/webhook",
            "SLACK_WEBHOOK_URL": f"{target}/slack",
            "CACHE_KEY_PREFIX": f"soak-{secrets.token_hex(4)}",
        }
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode:
        raise SystemExit(f"manage.py {args[0]} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(base: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit("the console did not answer /healthz")


def logged_in(base: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30)
    client.get("/login/")
    response = client.post(
        "/login/",
        data={
            "username": "lead",
            "password": password,
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
        },
    )
    if response.status_code != 302:
        raise SystemExit(f"login failed: {response.status_code}")
    return client


# -- the load ------------------------------------------------------------------------------------
class Responder:
    def __init__(self, n: int, base: str, password: str, setup: dict, stats: Stats, end: float):
        self.n, self.setup, self.stats, self.end = n, setup, stats, end
        self.client = logged_in(base, password)
        self.csrf = self.client.cookies["csrftoken"]
        self.random = random.Random(n)

    def post(self, action: str, url: str, data: dict, htmx: bool = True) -> httpx.Response | None:
        headers = {"X-CSRFToken": self.csrf}
        if htmx:
            headers["HX-Request"] = "true"
        started = time.perf_counter()
        try:
            response = send(self.stats, lambda: self.client.post(url, data=data, headers=headers))
        except httpx.HTTPError as exc:
            self.stats.add(action, time.perf_counter() - started, f"{type(exc).__name__}")
            return None
        elapsed = time.perf_counter() - started
        bad = response.status_code >= 400 and response.status_code != 409
        self.stats.add(action, elapsed, f"HTTP {response.status_code}" if bad else None)
        return response

    def get(self, action: str, url: str) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            headers = {"HX-Request": "true"}
            response = send(self.stats, lambda: self.client.get(url, headers=headers))
        except httpx.HTTPError as exc:
            self.stats.add(action, time.perf_counter() - started, type(exc).__name__)
            return None
        error = f"HTTP {response.status_code}" if response.status_code >= 400 else None
        self.stats.add(action, time.perf_counter() - started, error)
        return response

    def pause(self) -> None:
        time.sleep(self.random.uniform(0.2, 0.6))

    def alive(self) -> bool:
        return time.monotonic() < self.end

    def declare(self, title: str) -> int | None:
        response = self.post(
            "declare",
            "/incidents/declare/",
            {"title": title, "severity": self.random.choice(["P1", "P2", "P3"]), "summary": title},
            htmx=False,
        )
        if response is None or response.status_code != 302:
            return None
        match = re.search(r"/incidents/(\d+)/", response.headers.get("location", ""))
        return int(match.group(1)) if match else None

    def write(self, action: str, pk: int, path: str, data: dict) -> None:
        if not self.alive():
            return
        self.post(action, f"/incidents/{pk}/{path}", data)
        self.get("timeline", f"/incidents/{pk}/timeline/")
        self.pause()

    def run(self) -> None:
        old = self.declare(f"soak client {self.n}: the long one")
        cycle = 0
        while self.alive():
            cycle += 1
            pk = self.declare(f"soak client {self.n} cycle {cycle}")
            if pk is None:
                self.pause()
                continue
            self.pause()
            steps: list[str] = []
            checks: list[str] = []
            if self.setup["scenarios"]:
                scenario = self.random.choice(self.setup["scenarios"])
                self.post("attach", f"/incidents/{pk}/checklists/", {"scenario": scenario})
                page = self.get("detail", f"/incidents/{pk}/")
                html = page.text if page is not None else ""
                steps = re.findall(rf"/incidents/{pk}/checklists/steps/(\d+)/done/", html)
                checks = re.findall(rf"/incidents/{pk}/checklists/steps/(\d+)/check/\"", html)
            self.write("note", pk, "notes/", {"text": f"looking at it ({cycle})"})
            for step in list(dict.fromkeys(steps))[:3]:
                self.write("tick", pk, f"checklists/steps/{step}/done/", {})
            if checks:
                self.write("run_check", pk, f"checklists/steps/{checks[0]}/check/", {})
            self.write("acknowledge", pk, "acknowledge/", {})
            self.write("status", pk, "status/", {"status": "identified", "note": "found it"})
            if old is not None:
                self.write("note", old, "notes/", {"text": f"still watching ({cycle})"})
            self.write("note", pk, "notes/", {"text": "fix deployed"})
            self.write("status", pk, "status/", {"status": "monitoring", "note": ""})
            self.write("resolve", pk, "status/", {"status": "resolved", "note": "recovered"})
        if old is not None:
            self.post("resolve", f"/incidents/{old}/status/", {"status": "resolved", "note": ""})


def send_alerts(base: str, token: str, stats: Stats, end: float) -> None:
    body = json.dumps(ALERTMANAGER)
    with httpx.Client(base_url=base, timeout=30) as client:
        while time.monotonic() < end:
            started = time.perf_counter()
            try:
                response = send(
                    stats,
                    lambda: client.post(
                        f"/hooks/alertmanager/{token}/",
                        content=body,
                        headers={"Content-Type": "application/json"},
                    ),
                )
                error = None if response.status_code < 300 else f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                error = type(exc).__name__
            stats.add("alert", time.perf_counter() - started, error)
            time.sleep(2)


def run_probes(base: str, password: str, probes: list[int], stats: Stats, end: float) -> None:
    client = logged_in(base, password)
    csrf = client.cookies["csrftoken"]
    n = 0
    while time.monotonic() < end:
        probe = probes[n % len(probes)]
        n += 1
        started = time.perf_counter()
        try:
            response = send(
                stats,
                lambda url=f"/probes/{probe}/run/": client.post(
                    url, headers={"X-CSRFToken": csrf, "HX-Request": "true"}
                ),
            )
            error = None if response.status_code < 400 else f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        stats.add("probe_run", time.perf_counter() - started, error)
        time.sleep(3)


def hold_idle_sockets(port: int, end: float, count: int = 6) -> None:
    """Connections that never send a byte, like a browser's preconnects."""
    while time.monotonic() < end:
        sockets = []
        for _ in range(count):
            with contextlib.suppress(OSError):
                sockets.append(socket.create_connection(("127.0.0.1", port), timeout=2))
        time.sleep(8)
        for sock in sockets:
            sock.close()


def health_watch(base: str, stats: Stats, end: float) -> None:
    while time.monotonic() < end:
        started = time.perf_counter()
        try:
            ok = httpx.get(f"{base}/healthz", timeout=5).status_code == 200
        except httpx.HTTPError:
            ok = False
        stats.add("healthz", time.perf_counter() - started, None if ok else "down")
        time.sleep(1)


def broker_left(var_dir: Path) -> tuple[int, int, int]:
    """(messages due and not run, timers for later, rejected) in the filesystem broker.

    A worker holds ETA tasks (acknowledgement deadlines, escalation steps) in memory and puts
    them back in the queue when it stops: those are timers for later, not lost work."""
    queue = var_dir / "broker" / "queue"
    rejected = var_dir / "broker" / "rejected"
    due = later = 0
    now = datetime.now(UTC)
    for path in queue.iterdir() if queue.exists() else ():
        try:
            eta = json.loads(path.read_bytes()).get("headers", {}).get("eta")
        except (OSError, ValueError):
            eta = None
        if eta and datetime.fromisoformat(eta) > now:
            later += 1
        else:
            due += 1
    return due, later, len(list(rejected.iterdir())) if rejected.exists() else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=600, help="seconds of load (600)")
    parser.add_argument("--clients", type=int, default=4, help="responder clients (4)")
    parser.add_argument("--probes", type=int, default=12, help="HTTP probes due every 10 s")
    parser.add_argument("--keep", action="store_true", help="keep the var dir and log")
    args = parser.parse_args()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Target)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    target = f"http://127.0.0.1:{server.server_address[1]}"

    var_dir = Path(tempfile.mkdtemp(prefix="soak-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = environment(var_dir, port, target)
    password = env.get("DEMO_PASSWORD") or "console-demo"
    embedded = not env.get("DATABASE_URL")
    if not embedded:
        # A database of its own for the run: wiped first, so figures don't depend on history.
        manage(env, "flush", "--noinput")
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "seed_demo")
    setup = json.loads(
        manage(env, "shell", "-c", SETUP.format(probes=args.probes, target=target))
        .strip()
        .splitlines()[-1]
    )

    log_path = var_dir / "runconsole.log"
    log = log_path.open("wb")
    console = subprocess.Popen(
        [sys.executable, "manage.py", "runconsole", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    stats = Stats()
    load_before = os.getloadavg()[0]
    try:
        wait_healthy(base)
        time.sleep(3)  # worker and beat up
        started = time.monotonic()
        end = started + args.duration
        threads = [
            threading.Thread(target=Responder(n, base, password, setup, stats, end).run)
            for n in range(args.clients)
        ]
        threads += [
            threading.Thread(target=send_alerts, args=(base, setup["token"], stats, end)),
            threading.Thread(target=run_probes, args=(base, password, setup["probes"], stats, end)),
            threading.Thread(target=hold_idle_sockets, args=(port, end)),
            threading.Thread(target=health_watch, args=(base, stats, end)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        load_seconds = time.monotonic() - started

        # Drain: every queued task should run within a couple of minutes of the load ending.
        deadline = time.monotonic() + 120
        verify: dict = {}
        while time.monotonic() < deadline:
            verify = json.loads(manage(env, "shell", "-c", VERIFY).strip().splitlines()[-1])
            queued = broker_left(var_dir)[0] if embedded else 0
            if (
                not verify["check_requests_unanswered"]
                and not verify["alert_deliveries_pending"]
                and not verify["escalation_deliveries_pending"]
                and not queued
            ):
                break
            time.sleep(3)
        console_alive = console.poll() is None
    finally:
        if console.poll() is None:
            console.send_signal(signal.SIGINT)
            try:
                console.wait(timeout=30)
            except subprocess.TimeoutExpired:
                console.kill()
        log.close()
        server.shutdown()

    text = log_path.read_text(errors="replace")
    restarts = {n: len(re.findall(rf"runconsole: {n} restarted", text)) for n in ("worker", "beat")}
    crashes = len(re.findall(r"Unrecoverable error", text))
    decode_errors = len(re.findall(r"JSONDecodeError", text))
    queued, timers, rejected = broker_left(var_dir) if embedded else (0, 0, 0)

    database = "SQLite" if embedded else "PostgreSQL"
    broker = "console.broker filesystem" if embedded else "Redis"
    print(
        f"\nsoak: {load_seconds:.0f} s, {args.clients} clients, {args.probes} probes every 10 s, "
        f"{database} + {broker} broker, runconsole (gunicorn 4×2 ReadyThreadWorker, "
        f"worker --concurrency 2, beat)"
    )
    print(
        f"load average (1 min) on this machine: {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after; requests sent again after a keep-alive race: "
        f"{stats.retried}"
    )
    print(f"{'action':<12} {'n':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>7}")
    missed = []
    for action in sorted(stats.times):
        values = stats.times[action]
        p99 = percentile(values, 99)
        print(
            f"{action:<12} {len(values):>6} {statistics.median(values):>8.0f} {p99:>8.0f} "
            f"{max(values):>8.0f} {len(stats.errors[action]):>7}"
        )
        if action in WRITES and p99 >= GOAL_P99_MS:
            missed.append(f"{action} p99 {p99:.0f} ms")
        if stats.errors[action]:
            missed.append(f"{action}: {len(stats.errors[action])} errors")
    kinds = sorted({f"{a}: {e}" for a, errs in stats.errors.items() for e in errs})
    if kinds:
        print("error kinds: " + ", ".join(kinds))
    print(
        f"restarts: worker {restarts['worker']}, beat {restarts['beat']}; worker crashes "
        f"{crashes}; JSONDecodeError {decode_errors}; console alive at the end: {console_alive}"
    )
    print(
        f"tasks: {verify.get('check_requests')} check requests "
        f"({verify.get('check_requests_unanswered')} unanswered), "
        f"{verify.get('alert_deliveries')} alert deliveries "
        f"({verify.get('alert_deliveries_pending')} pending), "
        f"{verify.get('escalation_deliveries')} escalation deliveries "
        f"({verify.get('escalation_deliveries_pending')} pending), probes never run "
        f"{verify.get('probes_never_run')}; broker: {queued} due left, {rejected} rejected, "
        f"{timers} timers for later put back at shutdown; "
        f"local server: {dict(Target.hits)}"
    )
    if any(restarts.values()) or crashes or decode_errors or not console_alive:
        missed.append("restarts or crashes")
    if (
        verify.get("check_requests_unanswered")
        or verify.get("alert_deliveries_pending")
        or verify.get("escalation_deliveries_pending")
        or queued
        or rejected
    ):
        missed.append("queued tasks not all run")
    print("goals met" if not missed else "goals missed: " + "; ".join(missed))
    if args.keep:
        print(f"var dir and log kept: {var_dir}")
    else:
        shutil.rmtree(var_dir, ignore_errors=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
