"""Debian's real Alertmanager (/usr/bin/prometheus-alertmanager) for tests: started on an
ephemeral port with no cluster gossip and its storage in a temporary folder, its receivers
pointing at a live console; alerts are fired and resolved through its own API (/api/v2)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.probes.servers import free_port
from tests.waiting import wait_for

BINARY = Path("/usr/bin/prometheus-alertmanager")


class Alertmanager:
    def __init__(self, url: str) -> None:
        self.url = url

    def post_alerts(self, *alerts: dict) -> None:
        response = httpx.post(f"{self.url}/api/v2/alerts", json=list(alerts), timeout=10)
        response.raise_for_status()

    def fire(self, labels: dict, annotations: dict | None = None) -> dict:
        alert = {
            "labels": labels,
            "annotations": annotations or {},
            "startsAt": datetime.now(UTC).isoformat(),
            "generatorURL": "http://prometheus.example.org/graph?g0.expr=up",
        }
        self.post_alerts(alert)
        return alert

    def resolve(self, alert: dict) -> None:
        self.post_alerts(
            {**alert, "endsAt": (datetime.now(UTC) - timedelta(seconds=1)).isoformat()}
        )

    def alerts(self) -> list[dict]:
        return httpx.get(f"{self.url}/api/v2/alerts", timeout=10).json()


@contextmanager
def alertmanager(config: str, folder: Path) -> Iterator[Alertmanager]:
    """Alertmanager running `config` (YAML text); stopped (and waited for) afterwards."""
    if not BINARY.exists():
        pytest.fail(f"{BINARY} is missing: apt-get install -y prometheus-alertmanager")
    (folder / "data").mkdir(exist_ok=True)
    config_file = folder / "alertmanager.yml"
    config_file.write_text(config)
    check = (
        subprocess.run(
            ["/usr/bin/amtool", "check-config", str(config_file)], capture_output=True, text=True
        )
        if Path("/usr/bin/amtool").exists()
        else None
    )
    assert check is None or check.returncode == 0, check.stdout + check.stderr
    port = free_port()
    log = (folder / "alertmanager.log").open("w")
    process = subprocess.Popen(
        [
            str(BINARY),
            f"--config.file={config_file}",
            f"--storage.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # no gossip: eight test runs share this machine
            "--log.level=debug",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        if not wait_for(ready, 30):
            pytest.fail("Alertmanager did not start:\n" + (folder / "alertmanager.log").read_text())
        yield Alertmanager(url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        log.close()


def notification_log(folder: Path) -> str:
    return (folder / "alertmanager.log").read_text()


def yaml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a YAML string
