"""dms.cache.RedisCache: one Redis client per pool, shared by the threads of a process."""

import threading
import uuid

import pytest
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCacheClient
from django.test import override_settings

pytestmark = pytest.mark.redis


@pytest.fixture
def redis_cache():
    alias = "reused"
    config = {
        alias: {
            "BACKEND": "dms.cache.RedisCache",
            "LOCATION": settings.REDIS_URL,
            "KEY_PREFIX": f"test-cache-{uuid.uuid4().hex}",
        }
    }
    with override_settings(CACHES={**settings.CACHES, **config}):
        cache = caches.create_connection(alias)
        yield cache
        cache.delete_many([f"k{i}" for i in range(3)] + ["count"])


def test_every_operation_uses_the_same_client(redis_cache):
    client = redis_cache._cache.get_client()
    assert redis_cache._cache.get_client("a", write=True) is client
    assert redis_cache._cache.get_client("b") is client
    # Django's own client class makes a new one per call: this is what the subclass changes
    plain = RedisCacheClient(redis_cache._servers)
    assert plain.get_client() is not plain.get_client()


def test_the_cache_works_through_the_shared_client(redis_cache):
    redis_cache.set("k0", {"a": 1}, 30)
    redis_cache.set_many({"k1": "one", "k2": 2}, 30)
    assert redis_cache.get("k0") == {"a": 1}
    assert redis_cache.get_many(["k1", "k2", "missing"]) == {"k1": "one", "k2": 2}
    assert redis_cache.add("k1", "other") is False
    redis_cache.delete("k1")
    assert redis_cache.get("k1") is None


def test_threads_share_the_client_without_losing_an_increment(redis_cache):
    redis_cache.set("count", 0, 60)
    errors = []

    def work():
        try:
            for _ in range(200):
                redis_cache.incr("count")
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert redis_cache.get("count") == 1600
