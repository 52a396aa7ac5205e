"""A Redis cache that keeps the console running while Redis is down.

The console is open precisely when things are broken, and the Redis it uses as a cache may be
the thing that is broken. A cache miss is always acceptable, so connection errors are logged
and turned into misses instead of 500s.
"""

from __future__ import annotations

import functools
import logging

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError)


def _tolerant(default_arg: str | None = None, fallback=None):
    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except UNAVAILABLE as exc:
                log.warning("cache unavailable during %s: %s", method.__name__, exc)
                if default_arg is not None:
                    if default_arg in kwargs:
                        return kwargs[default_arg]
                    # get(key, default) passes default positionally as the second argument.
                    return args[1] if len(args) > 1 else None
                return fallback() if callable(fallback) else fallback

        return wrapper

    return decorate


class TolerantRedisCache(RedisCache):
    get = _tolerant(default_arg="default")(RedisCache.get)
    set = _tolerant(fallback=None)(RedisCache.set)
    add = _tolerant(fallback=False)(RedisCache.add)
    touch = _tolerant(fallback=False)(RedisCache.touch)
    delete = _tolerant(fallback=False)(RedisCache.delete)
    get_many = _tolerant(fallback=dict)(RedisCache.get_many)
    set_many = _tolerant(fallback=list)(RedisCache.set_many)
    delete_many = _tolerant(fallback=None)(RedisCache.delete_many)
    has_key = _tolerant(fallback=False)(RedisCache.has_key)
    incr = _tolerant(fallback=None)(RedisCache.incr)
    clear = _tolerant(fallback=False)(RedisCache.clear)
