from __future__ import annotations

import os

from celery import Celery

from console import broker

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

# Before any connection: the embedded default's broker URL is consolefs://.
broker.register()
app = Celery("console")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The worker's and beat's own heartbeats (their signal receivers), for the "worker down" banner.
import console.heartbeats  # noqa: E402,F401
