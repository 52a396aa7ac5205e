"""What the real-client tests share: integrations made the way provisioning scripts make them
(create_integration), and a real Celery worker processing what a live console receives."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from io import StringIO

from django.core.management import call_command

from incidents.intake.models import Integration


def create_integration(kind: str, name: str, *args: str) -> tuple[Integration, str]:
    out = StringIO()
    call_command("create_integration", kind, name, *args, stdout=out)
    secret = out.getvalue().strip().splitlines()[-1]
    return Integration.objects.get(name=name), secret


@contextmanager
def celery_worker() -> Iterator[None]:
    """A real worker (in a thread, solo pool) on the configured broker, queue emptied first."""
    from celery.contrib.testing.worker import start_worker
    from django.core.cache import cache

    from console.celery import app

    cache.clear()  # the hook's "a drain is on its way" marks of earlier tests
    app.control.purge()
    with start_worker(app, pool="solo", concurrency=1, perform_ping_check=False):
        yield
