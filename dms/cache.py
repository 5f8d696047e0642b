"""Django's Redis cache, with one Redis client per connection pool instead of one per operation.

Django's `RedisCacheClient.get_client` builds a new `redis.Redis` for every cache operation.
Building one copies redis-py's table of response callbacks (~170 entries): about 0.1 ms here, as
long as a GET's round trip on loopback. Polled fragments answer "unchanged" from the cache alone
(dms.live) and the customer pages count requests in Redis (portal.limits), so for the requests
a working day has most of, building clients was a large share of the work: the customer status
poll's 304 spent 0.42 of its 2.9 ms in-process (cProfile) on it (docs/benchmarks.md).

A `redis.Redis` holds no connection of its own (each command borrows one from the pool) and may
be shared between threads; the pool itself notices a fork and starts afresh in the child.
"""

from __future__ import annotations

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class ReusedClientCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            if index not in self._pools:
                self._pools[index] = self._pool_class.from_url(
                    self._servers[index], **self._pool_options
                )
            client = self._clients[index] = self._client(connection_pool=self._pools[index])
        return client


class RedisCache(DjangoRedisCache):
    """`django.core.cache.backends.redis.RedisCache` with the client above."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusedClientCacheClient
