"""docker-compose.yml and its Dockerfile describe the stack the console expects.

No Docker engine runs here, so these read the files: the services, their commands, the shared
environment, health checks and start-up order that `docker compose up` would act on.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("web", "worker", "beat")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def command(service: dict) -> str:
    value = service["command"]
    return value if isinstance(value, str) else " ".join(value)


def interpolated(value: str) -> str:
    """The value as compose would pass it, with each ${VAR...} filled in."""
    return re.sub(r"\$\{[^}]*\}", "filled", value)


def test_stack_has_its_services(services: dict) -> None:
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")


def test_app_services_run_web_worker_and_beat(services: dict) -> None:
    assert re.match(r"gunicorn console\.wsgi:application\b", command(services["web"]))
    assert "0.0.0.0:8000" in command(services["web"])
    assert command(services["worker"]).startswith("celery -A console worker")
    assert command(services["beat"]).startswith("celery -A console beat")


def test_app_services_share_one_environment(compose: dict, services: dict) -> None:
    shared = compose["x-console-env"]
    for name in (*APP_SERVICES, "migrate"):
        # The same mapping object: YAML aliases of one anchor, not copies that can drift.
        assert services[name]["environment"] is shared, name
    database = urlsplit(interpolated(shared["DATABASE_URL"]))
    assert (database.scheme, database.hostname, database.port) == ("postgres", "postgres", 5432)
    redis = urlsplit(interpolated(shared["REDIS_URL"]))
    assert (redis.scheme, redis.hostname, redis.port) == ("redis", "redis", 6379)
    assert shared["SECRET_KEY"] == "${SECRET_KEY:?set SECRET_KEY}"
    assert shared["DEBUG"] == "0"
    for key in ("ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "SECURE_PROXY_SSL_HEADER", "TIME_ZONE"):
        assert shared[key], key


def test_health_checks_exist(services: dict) -> None:
    for name in ("postgres", "redis", "web"):
        assert services[name]["healthcheck"]["test"], name
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "redis-cli" in services["redis"]["healthcheck"]["test"]
    web_check = " ".join(services["web"]["healthcheck"]["test"])
    assert "urllib" in web_check
    assert "/healthz" in web_check


def test_app_services_wait_for_healthy_backends_and_migrations(services: dict) -> None:
    for name in APP_SERVICES:
        depends_on = services[name]["depends_on"]
        assert depends_on["postgres"]["condition"] == "service_healthy", name
        assert depends_on["redis"]["condition"] == "service_healthy", name
        assert depends_on["migrate"]["condition"] == "service_completed_successfully", name
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert command(services["migrate"]) == "python manage.py migrate --noinput"


def test_images_build_from_a_dockerfile_that_installs_the_lock(services: dict) -> None:
    for name in (*APP_SERVICES, "migrate"):
        build = services[name]["build"]
        if isinstance(build, str):
            build = {"context": build}
        path = ROOT / build.get("context", ".") / build.get("dockerfile", "Dockerfile")
        assert path.is_file(), f"{name} builds from {path}, which is missing"

    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.MULTILINE)
    assert re.search(r"^COPY requirements\.lock\b", dockerfile, re.MULTILINE)
    assert re.search(r"^RUN pip install -r requirements\.lock$", dockerfile, re.MULTILINE)
    assert "collectstatic --noinput" in dockerfile
    assert (ROOT / "requirements.lock").is_file()
    assert ".venv" in (ROOT / ".dockerignore").read_text().split()


def test_lock_pins_every_package_exactly() -> None:
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    pins = [line for line in lines if line.strip() and not line.startswith("#")]
    # name==version, optionally with an environment marker for other interpreters.
    pinned = re.compile(r"[A-Za-z0-9._-]+(\[[\w,]+\])?==[^\s;]+( ; .+)?")
    unpinned = [line for line in pins if not pinned.fullmatch(line)]
    assert unpinned == []
    names = {re.split(r"[\[=]", line)[0].lower().replace("_", "-") for line in pins}
    for direct in ("django", "celery", "kombu", "psycopg", "psycopg-binary", "redis", "gunicorn"):
        assert direct in names, direct
