"""Settings for bench/ingest.py's gunicorn: the console as deployed, with ingest_urls.py
adding a no-op view behind the same middleware."""

from console.settings import *  # noqa: F403

ROOT_URLCONF = "ingest_urls"
