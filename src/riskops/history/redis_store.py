"""The online store in Redis, for a fleet of scoring servers sharing one history.

Keys, under a prefix (``riskops:history`` unless the URL says ``?prefix=``) and the namespace:

- ``P:NS:events``       hash, event id → ``time|units``: each transaction once (HSETNX);
- ``P:NS:labels``       hash, event id → ``1`` (fraud) or ``0``;
- ``P:NS:E:KEY``        sorted set per entity key (``E`` is ``customer`` or ``terminal``),
  member ``time|units|event id``, score the time in µs (exact: below 2^53 until year 2255).

A lookup is two round trips whatever the number of entities: one pipeline of
``ZRANGEBYSCORE`` (``[since, until)``), then one ``HMGET`` of the labels of what it found.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from riskops.errors import BackendError, MissingExtraError
from riskops.history.definitions import Past
from riskops.history.store import Event

DEFAULT_PREFIX = "riskops:history"

redis: Any
try:
    import redis
except ModuleNotFoundError as exc:  # only the redis package: anything else is a real failure
    if exc.name != "redis":
        raise
    redis = None


class RedisStore:
    """The online store in the Redis at ``client``, keys under ``prefix``."""

    def __init__(self, client: Any, *, prefix: str = DEFAULT_PREFIX, url: str = "redis://") -> None:
        self.url = url
        self.prefix = prefix
        self._redis = client

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        if redis is None:
            raise MissingExtraError("The Redis online history store", "redis", "history")
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        prefix = query.pop("prefix", [DEFAULT_PREFIX])[0]
        rest = "&".join(f"{k}={v}" for k, values in query.items() for v in values)
        client = redis.Redis.from_url(
            urlunsplit((parts.scheme, parts.netloc, parts.path, rest, "")),
            socket_timeout=2.0,
            socket_connect_timeout=2.0,
        )
        return cls(client, prefix=prefix, url=url)

    def _key(self, namespace: str, *parts: str) -> str:
        return ":".join((self.prefix, namespace, *parts))

    def append(self, namespace: str, event: Event) -> bool:
        return self.append_many(namespace, [event]) == 1

    def append_many(self, namespace: str, events: Iterable[Event]) -> int:
        batch = list(events)
        if not batch:
            return 0
        events_key = self._key(namespace, "events")
        with self._errors():
            pipe = self._redis.pipeline(transaction=False)
            for event in batch:
                pipe.hsetnx(events_key, event.event_id, f"{event.time_us}|{event.units}")
            fresh = [e for e, new in zip(batch, pipe.execute(), strict=True) if new]
            pipe = self._redis.pipeline(transaction=True)
            for event in fresh:
                member = f"{event.time_us}|{event.units}|{event.event_id}"
                for entity, key in event.keys.items():
                    pipe.zadd(self._key(namespace, entity, key), {member: event.time_us})
                if event.label is not None:
                    pipe.hset(self._key(namespace, "labels"), event.event_id, int(event.label))
            pipe.execute()
        return len(fresh)

    def label(self, namespace: str, event_id: str, *, fraud: bool) -> bool:
        with self._errors():
            if not self._redis.hexists(self._key(namespace, "events"), event_id):
                return False
            self._redis.hset(self._key(namespace, "labels"), event_id, int(fraud))
        return True

    def window(
        self, namespace: str, entity: str, key: str, since_us: int, until_us: int
    ) -> Sequence[Past]:
        return self.windows(namespace, [(entity, key, since_us, until_us)])[0]

    def windows(
        self, namespace: str, queries: Sequence[tuple[str, str, int, int]]
    ) -> list[Sequence[Past]]:
        with self._errors():
            pipe = self._redis.pipeline(transaction=False)
            for entity, key, since_us, until_us in queries:
                pipe.zrangebyscore(self._key(namespace, entity, key), since_us, f"({until_us}")
            found = [[m.decode().split("|", 2) for m in members] for members in pipe.execute()]
            ids = [parts[2] for members in found for parts in members]
            labels = self._redis.hmget(self._key(namespace, "labels"), ids) if ids else []
        flags = iter(labels)
        return [
            [(int(t), int(u), 1 if next(flags) == b"1" else 0) for t, u, _ in members]
            for members in found
        ]

    def clear(self, namespace: str) -> int:
        with self._errors():
            count = int(self._redis.hlen(self._key(namespace, "events")))
            keys = list(self._redis.scan_iter(match=self._key(namespace, "*"), count=1000))
            for start in range(0, len(keys), 500):
                self._redis.delete(*keys[start : start + 500])
        return count

    def close(self) -> None:
        self._redis.close()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """A Redis failure as BackendError (503 at the edge, retry)."""
        try:
            yield
        except redis.RedisError as error:
            raise BackendError(
                f"The online history store {self.url} did not answer: {error}",
                hint="Check that Redis runs and RISKOPS_HISTORY_URL points at it; retry.",
                retry_after=1,
            ) from None
