"""Test settings: production settings with DEBUG off, plus what a test run needs.

Environment variables set outside (DATABASE_URL, REDIS_URL) still apply, so CI's run is on
PostgreSQL and Redis.
"""

from __future__ import annotations

import os
from pathlib import Path

# Own var dir: a test run must not share the filesystem broker with a `make run` worker.
os.environ.setdefault(
    "CONSOLE_VAR_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test")
)
os.environ.setdefault("SECRET_KEY", "tests-only-" + "k" * 50)
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("CACHE_KEY_PREFIX", "console-tests")

from console.settings import *  # noqa: E402,F403

# No collectstatic in tests: serve from the finders, without the manifest.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# SQLite: a file, not the default shared in-memory database, so tests with threads or a real
# Celery worker get what `make run` gets (WAL, immediate transactions, a busy timeout)
# instead of "database table is locked".
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-database.sqlite3")}  # noqa: F405

# The embedded file cache: a fresh folder per test run, so nothing from an earlier run is hit.
if CACHES["default"]["BACKEND"] == "console.filecache.SharedFileCache":  # noqa: F405
    import atexit
    import shutil
    import tempfile

    CACHES["default"]["LOCATION"] = tempfile.mkdtemp(prefix="console-test-cache-")  # noqa: F405
    atexit.register(shutil.rmtree, CACHES["default"]["LOCATION"], True)  # noqa: F405
# Test workers run in threads of the test process: no heartbeat thread writing behind the
# tests' backs (tests call console.heartbeats.beat_once themselves).
CONSOLE_HEARTBEAT_SECONDS = 0
