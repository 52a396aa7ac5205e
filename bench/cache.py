"""The embedded default cache: what a get, set, add and incr cost per backend.

    .venv/bin/python bench/cache.py [-n 5000]

Backends: Django's local-memory cache (per process: wrong with several processes, for
reference), the console's SharedFileCache (files + flock), Django's DatabaseCache on a SQLite
file in WAL mode (what a database-backed embedded default would be), and, when REDIS_URL is
set, the Redis cache production uses. Each row is microseconds per operation, median of
three runs, in one process on a 200-byte value and on a 20 kB one (a rendered status page).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
TMP = Path(tempfile.mkdtemp(prefix="bench-cache-"))
os.environ.setdefault("DEBUG", "1")
os.environ["CONSOLE_VAR_DIR"] = str(TMP)
os.environ.pop("DATABASE_URL", None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

import django  # noqa: E402
from django.conf import settings  # noqa: E402

BACKENDS = {
    "locmem (per process)": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "SharedFileCache": {
        "BACKEND": "console.filecache.SharedFileCache",
        "LOCATION": str(TMP / "cache"),
        "OPTIONS": {"MAX_ENTRIES": 5000},
    },
    "DatabaseCache (SQLite WAL)": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "bench_cache",
    },
}
if os.environ.get("REDIS_URL"):
    BACKENDS["Redis"] = {"BACKEND": "console.cache.TolerantRedisCache",
                         "LOCATION": os.environ["REDIS_URL"], "KEY_PREFIX": "bench-cache"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=5000)
    n = parser.parse_args().n
    django.setup()
    settings.CACHES.update({name: conf for name, conf in BACKENDS.items()})
    from django.core.cache import caches
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("createcachetable", "bench_cache", verbosity=0, database="default")

    def timed(fn) -> float:
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            for i in range(n):
                fn(i)
            runs.append((time.perf_counter() - start) / n * 1e6)
        return statistics.median(runs)

    print(f"| backend | get 200 B | get 20 kB | set 20 kB | add | incr |  (µs/op, n={n})")
    print("|---|---|---|---|---|---|")
    small, large = "x" * 200, os.urandom(10_000).hex()
    for name in BACKENDS:
        cache = caches[name]
        cache.clear()
        cache.set("small", small, None)
        cache.set("large", large, None)
        cache.set("counter", 0, None)
        row = [
            timed(lambda i, c=cache: c.get("small")),
            timed(lambda i, c=cache: c.get("large")),
            timed(lambda i, c=cache: c.set(f"page:{i % 50}", large, 300)),
            timed(lambda i, c=cache: c.add(f"kick:{i % 50}", 1, 1)),
            timed(lambda i, c=cache: c.incr("counter")),
        ]
        print(f"| {name} | " + " | ".join(f"{v:.0f}" for v in row) + " |")


if __name__ == "__main__":
    main()
