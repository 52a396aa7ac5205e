"""The console keeps working while the Redis it uses (broker and cache) is down."""

from __future__ import annotations

import httpx
import pytest
from django.core.cache.backends.redis import RedisCache

from console.cache import TolerantRedisCache
from tests.console.livecontrol import (
    console_env,
    free_port,
    login,
    manage,
    post_form,
    runserver,
)

CREATE_RESPONDER = (
    "from django.contrib.auth.models import Group, User\n"
    "u = User.objects.create_user('rita', password='pw-for-tests')\n"
    "u.groups.add(Group.objects.get(name='Responder'))\n"
)


def test_pages_declare_and_notes_work_with_redis_down(tmp_path):
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    env = console_env(tmp_path, REDIS_URL=dead_redis)
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "shell", "-c", CREATE_RESPONDER)
    with runserver(env) as base, httpx.Client(base_url=base, timeout=15) as client:
        login(client, "rita", "pw-for-tests")
        assert client.get("/incidents/").status_code == 200

        response = post_form(
            client, "/incidents/declare/", {"title": "Redis is down", "severity": "P0"}
        )
        assert response.status_code == 302
        detail_url = response.headers["Location"]
        page = client.get(detail_url)
        assert page.status_code == 200
        # The failed publish is reported, not raised.
        assert "task queue is unreachable" in page.text
        assert "Redis is down" in page.text

        response = post_form(client, f"{detail_url}notes/", {"text": "Broker refused us"})
        assert response.status_code == 302
        page = client.get(detail_url)
        assert "Broker refused us" in page.text
        poll = client.get(f"{detail_url}timeline/?since=0", headers={"HX-Request": "true"})
        assert poll.status_code == 200 and "Broker refused us" in poll.text


def test_tolerant_cache_turns_a_dead_redis_into_misses():
    cache = TolerantRedisCache(
        f"redis://127.0.0.1:{free_port()}/0",
        {"OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}},
    )
    assert cache.get("k") is None
    assert cache.get("k", "fallback") == "fallback"
    assert cache.get("k", default=7) == 7
    assert cache.set("k", 1) is None
    assert cache.add("k", 1) is False
    assert cache.get_many(["a", "b"]) == {}
    assert cache.delete("k") is False
    assert cache.incr_expiring("window", 90) is None
    # The stock backend raises: this is what the console must not do.
    with pytest.raises(Exception):  # noqa: B017 - redis' ConnectionError
        RedisCache(f"redis://127.0.0.1:{free_port()}/0", {}).get("k")


def test_tolerant_cache_works_against_the_real_redis(settings):
    url = getattr(settings, "REDIS_URL", "") or "redis://127.0.0.1:6379/15"
    cache = TolerantRedisCache(url, {"KEY_PREFIX": "console-tests-tolerant"})
    cache.set("answer", 42, timeout=30)
    if cache.get("answer") is None:  # a laptop run without Redis; CI always has one
        pytest.skip("no Redis on 127.0.0.1:6379")
    assert cache.get("answer") == 42
    cache.delete("answer")
    assert cache.get("answer") is None


def test_incr_expiring_counts_in_one_key_that_expires(settings):
    url = getattr(settings, "REDIS_URL", "") or "redis://127.0.0.1:6379/15"
    cache = TolerantRedisCache(url, {"KEY_PREFIX": "console-tests-window"})
    cache.delete("window")
    if cache.incr_expiring("window", 90) is None:
        pytest.skip("no Redis on 127.0.0.1:6379")
    assert [cache.incr_expiring("window", 90) for _ in range(3)] == [2, 3, 4]
    # The same key Django's own calls read and write: get() sees the count.
    assert cache.get("window") == 4
    key = cache.make_and_validate_key("window")
    ttl = cache._cache.get_client(key).ttl(key)
    assert 0 < ttl <= 90
    cache.delete("window")
