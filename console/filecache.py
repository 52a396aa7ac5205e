"""The embedded default cache: files under `$CONSOLE_VAR_DIR/cache/`, shared by every process
of a `make run` (gunicorn's workers, the Celery worker, beat).

A local-memory cache is per process: a version bump made by one gunicorn worker (the status
page's, after a publish) never reached the other, which kept serving the old page for the
entry's lifetime. Files are seen by all of them. Django's FileBasedCache already writes each
entry to a temporary file and renames it into place, so a reader sees the old entry or the new
one, never half of one; what it lacks is atomic `add` and `incr` across processes (the intake's
rate limit and its drain kick rely on them), done here under an exclusive `flock`.

Measured in bench/cache.py (README there): a get is a file read, about as fast as a
PostgreSQL round trip and far cheaper than a database-backed cache's query on SQLite under
writes — and a status-page hit still runs no database query.
"""

from __future__ import annotations

import fcntl
import os
import pickle
import time
import zlib
from contextlib import contextmanager

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.filebased import FileBasedCache


class SharedFileCache(FileBasedCache):
    @contextmanager
    def _locked(self):
        self._createdir()
        with open(os.path.join(self._dir, ".lock"), "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None) -> bool:
        with self._locked():
            if self.has_key(key, version):
                return False
            self.set(key, value, timeout, version)
            return True

    def _read_with_expiry(self, key, version) -> tuple[object, float | None] | None:
        fname = self._key_to_file(key, version)
        try:
            with open(fname, "rb") as f:
                expiry = pickle.load(f)
                if expiry is not None and expiry < time.time():
                    return None
                return pickle.loads(zlib.decompress(f.read())), expiry
        except FileNotFoundError:
            return None

    def _write_keeping_expiry(self, key, value, expiry: float | None, version) -> None:
        # Same layout as FileBasedCache.set, with the entry's original expiry kept.
        timeout = None if expiry is None else max(expiry - time.time(), 0.001)
        self.set(key, value, timeout, version)

    def incr(self, key, delta=1, version=None):
        with self._locked():
            found = self._read_with_expiry(key, version)
            if found is None:
                raise ValueError(f"Key '{key}' not found")
            value, expiry = found
            value += delta
            self._write_keeping_expiry(key, value, expiry, version)
            return value

    def incr_expiring(self, key, ttl: int, version=None) -> int:
        """Add one and return the count, creating it with `ttl` seconds to live: one locked
        step, so concurrent deliveries from several processes are all counted."""
        with self._locked():
            found = self._read_with_expiry(key, version)
            if found is None:
                self.set(key, 1, ttl, version)
                return 1
            value, expiry = found
            self._write_keeping_expiry(key, value + 1, expiry, version)
            return value + 1
