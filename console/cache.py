"""A Redis cache that keeps the console running while Redis is down.

The console is open precisely when things are broken, and the Redis it uses as a cache may be
the thing that is broken. A cache miss is always acceptable, so connection errors are logged
and turned into misses instead of 500s.
"""

from __future__ import annotations

import functools
import logging
import time

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError)
# After a failure, calls to that Redis in this process (every thread) are misses at once for
# this long, so an outage costs one timeout per pause instead of one per call.
DOWN_SECONDS = 5.0
_down_until: dict[tuple, float] = {}


def redis_down(cache: RedisCache) -> bool:
    """Whether this cache's Redis failed within the last DOWN_SECONDS in this process."""
    return _down_until.get(tuple(cache._servers), 0.0) > time.monotonic()


def _tolerant(default_arg: str | None = None, fallback=None):
    def decorate(method):
        def miss(self, args, kwargs):
            self.unavailable = True
            if default_arg is not None:
                if default_arg in kwargs:
                    return kwargs[default_arg]
                # get(key, default) passes default positionally as the second argument.
                return args[1] if len(args) > 1 else None
            return fallback() if callable(fallback) else fallback

        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            if redis_down(self):
                return miss(self, args, kwargs)
            try:
                result = method(self, *args, **kwargs)
            except UNAVAILABLE as exc:
                log.warning("cache unavailable during %s: %s", method.__name__, exc)
                _down_until[tuple(self._servers)] = time.monotonic() + DOWN_SECONDS
                return miss(self, args, kwargs)
            self.unavailable = False
            return result

        return wrapper

    return decorate


class ReusingRedisCacheClient(RedisCacheClient):
    """Django's client builds a new redis.Redis for every call, and redis-py 8 fills a table
    of response callbacks in each one (about half a millisecond); a client shares its
    thread-safe connection pool anyway, so one client per pool is kept."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(
                connection_pool=self._get_connection_pool(write)
            )
        return client


class TolerantRedisCache(RedisCache):
    # Whether the last call on this instance (one per thread) found Redis unreachable: lets a
    # caller tell "the key exists" from "Redis is down" after a False from add().
    unavailable = False

    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient

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

    @_tolerant(fallback=None)
    def incr_expiring(self, key, ttl: int, version=None) -> int:
        """INCR then EXPIRE in one round trip: a counter per time window. Django's incr() is
        two round trips (EXISTS, then INCR) and a first call needs a third (add)."""
        key = self.make_and_validate_key(key, version=version)
        pipe = self._cache.get_client(key, write=True).pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, ttl)
        return pipe.execute()[0]

    @_tolerant(fallback=None)
    def incr_expiring_and_add(
        self, counter: str, ttl: int, key: str, timeout: int, version=None
    ) -> tuple[int, bool]:
        """incr_expiring(counter, ttl) and add(key, 1, timeout) in one round trip: the count,
        and whether key was added (it was absent). The intake's hot path does both after each
        delivery (counting it, claiming its drain)."""
        counter = self.make_and_validate_key(counter, version=version)
        key = self.make_and_validate_key(key, version=version)
        pipe = self._cache.get_client(counter, write=True).pipeline(transaction=False)
        pipe.incr(counter)
        pipe.expire(counter, ttl)
        pipe.set(key, self._cache._serializer.dumps(1), nx=True, ex=timeout)
        count, _, added = pipe.execute()
        return count, bool(added)
