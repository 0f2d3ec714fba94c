"""The shared cache's Redis backend: Django's, with one client per connection pool.

Why: Django's RedisCacheClient.get_client() builds a new redis.Redis for every cache call,
copying its ~170 response callbacks each time; a filing makes two such calls (the read-mostly
generations, mof.readmostly) and they cost more than the round trips. A redis.Redis is safe to
share between threads (each command takes a connection from the pool), and Django keeps one
backend, so one pool, per thread anyway.
"""
from django.core.cache.backends import redis as django_redis


class RedisCacheClient(django_redis.RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}  # pool index -> client

    def get_client(self, key=None, *, write=False):
        # As Django's: the server of the pool index it picks, and that server's pool.
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            if index not in self._pools:
                self._pools[index] = self._pool_class.from_url(self._servers[index], **self._pool_options)
            client = self._clients[index] = self._client(connection_pool=self._pools[index])
        return client


class RedisCache(django_redis.RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = RedisCacheClient
