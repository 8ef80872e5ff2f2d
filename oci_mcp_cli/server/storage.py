"""Expired OAuth state is removed from any store, on startup and periodically.

FastMCP culls only the file store it creates itself (``OAuthProxy._maybe_cull_expired_state``,
fastmcp 4.2.3 ``oauth_proxy/proxy.py`` 764-797; PrefectHQ/fastmcp#5718); a store passed as
``client_storage`` (``--storage-dir``, or a Redis store later) keeps every expired transaction,
consent token and code. Every entry carries its expiry in the store's own metadata (py-key-value's
``ManagedEntry.expires_at``, outside the Fernet-encrypted value), so culling needs no key:
:func:`cull_expired` walks the wrappers (``FernetEncryptionWrapper`` …) down to each store that
implements ``cull()`` (``AsyncCullProtocol``: FileTreeStore, Elasticsearch, OpenSearch). Stores
that expire keys themselves (Redis, Valkey, Memcached: native TTLs) have nothing to cull.

Shared state (``serve --storage URL`` / ``OCI_MCP_STORAGE``): ``file:///path`` (one process, or
replicas on one host) or ``redis://[:password@]host:port/db`` / ``rediss://…`` (TLS) for replicas
behind a load balancer. Either way the store is py-key-value's, wrapped in the Fernet encryption
FastMCP uses for its own default store, keyed from ``MCP_JWT_SIGNING_KEY``: nothing in Redis is
readable without it. :class:`GuardedStore` turns an unreachable backend into
:class:`StorageUnavailable` (FastMCP would read a failed lookup as "no such token" and answer
``401``, which makes MCP clients sign in again); :class:`StorageGate` answers such a request
``503`` with a clear message, and the next request after the backend returns just works.

Per request, FastMCP and our revocation check read the JTI mapping, the upstream token set and
the revocation records; :class:`ReadCache` serves repeated reads from memory (decrypted values,
≤ ``READ_CACHE_TTL_S`` old) and never serves anything another replica changed: every write
bumps a shared **epoch** (a file in the storage directory, an entry in Redis), and a cached
value is only used while the epoch it was read under is still current. A revocation (a write)
is therefore seen by every replica's next request (docs/security.md).
:func:`no_busy_polling_file_io` keeps the file store's reads (aiofile → caio) off io_uring's
SQPOLL kernel thread, which spins for 100 ms after each read: under steady load it never sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from oci_mcp_cli.server.telemetry import DISABLED, Telemetry

LOGGER = logging.getLogger("oci_mcp.server")
DEFAULT_CULL_INTERVAL_S = 600.0
REDIS_SCHEMES = ("redis", "rediss")
STORAGE_URL_HINT = "use file:///path, redis://[:password@]host:port/db or rediss://… (TLS)"
REDIS_CONNECT_TIMEOUT_S = 3.0  # an unreachable Redis fails the request, it does not hang it
REDIS_SOCKET_TIMEOUT_S = 5.0
PROBE_TIMEOUT_S = 3.0
RETRY_AFTER_S = 5
HEALTH_COLLECTION = "oci-mcp-health"
READ_CACHE_TTL_S = 2.0  # backstop bound on a cached value's age (writes invalidate at once)
READ_CACHE_MAX_ENTRIES = 10_000
EPOCH_FILE = "oci-mcp-epoch"
NON_POLLING_CAIO = ("thread", "linux", "python")  # caio implementations that never busy-poll


# --- file I/O without a busy-polling kernel thread -----------------------------------------------


def caio_implementation() -> str:
    """Which caio implementation aiofile uses in this process: uring, linux, thread or python."""
    import caio

    module = caio.AsyncioContext.__module__.rsplit(".", 1)[-1]
    return {
        "linux_uring_asyncio": "uring",
        "linux_aio_asyncio": "linux",
        "thread_aio_asyncio": "thread",
        "python_aio_asyncio": "python",
    }.get(module, module)


def no_busy_polling_file_io() -> str:
    """Make sure the file store's reads do not run on io_uring with SQPOLL; the implementation
    in use afterwards.

    caio (under aiofile, under py-key-value's FileTreeStore) prefers io_uring, and its ring uses
    a submission-queue polling kernel thread that spins for 100 ms after each request: under a
    steady load of tool calls it never sleeps (≈ 0.65 of a core on a 2-core VM). ``CAIO_IMPL``
    is set to ``thread`` when ``oci_mcp_cli`` is imported (before any caio import); this catches
    the rest — ``CAIO_IMPL=uring`` set by hand, or caio imported before ``oci_mcp_cli`` by a
    host program — by pointing aiofile's context factory at caio's thread implementation (read
    by aiofile when it creates a loop's context, i.e. before the server's first file read)."""
    import caio

    chosen = caio_implementation()
    if chosen in NON_POLLING_CAIO:
        return chosen
    fallback = caio.thread_aio_asyncio or caio.python_aio_asyncio
    caio.AsyncioContext = fallback.AsyncioContext
    LOGGER.warning(
        f"file I/O: caio's {chosen!r} implementation busy-polls (io_uring SQPOLL); using "
        f"{caio_implementation()!r} instead (set CAIO_IMPL=thread to silence this)"
    )
    return caio_implementation()


def cullable_stores(store: Any) -> list[Any]:
    """``store`` and the stores it wraps (``.key_value`` chain) that can cull expired entries."""
    from key_value.aio.protocols.key_value import AsyncCullProtocol

    found, seen = [], set()
    while store is not None and id(store) not in seen:
        seen.add(id(store))
        if isinstance(store, AsyncCullProtocol):
            found.append(store)
        store = getattr(store, "key_value", None)
    return found


async def cull_expired(store: Any) -> int:
    """Remove expired entries from every cullable layer of ``store``; how many layers were culled
    (0: the store expires entries itself, or cannot)."""
    stores = cullable_stores(store)
    for each in stores:
        await each.cull()
    return len(stores)


class StateCuller:
    """Culls ``store`` when started (the server's startup) and then every ``interval_s``."""

    def __init__(self, store: Any, interval_s: float = DEFAULT_CULL_INTERVAL_S) -> None:
        self.store = store
        self.interval_s = interval_s
        self.runs = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the periodic task on the running loop (the first cull runs at once)."""
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="oci-mcp-cull")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_once(self) -> None:
        try:
            await cull_expired(self.store)
        except Exception as exc:  # a failed cull must never take the server down
            LOGGER.warning(f"culling expired OAuth state failed: {exc.__class__.__name__}: {exc}")
        self.runs += 1

    async def _loop(self) -> None:
        while True:
            await self.run_once()
            await asyncio.sleep(self.interval_s)


# --- where the state lives: the storage URL ------------------------------------------------------


@dataclass(frozen=True)
class StorageTarget:
    """A parsed storage URL: a directory (``file://``; None = FastMCP's default location) or a
    Redis URL (``redis://`` / ``rediss://``)."""

    directory: Path | None = None
    redis_url: str | None = None

    @property
    def shared(self) -> bool:
        """True for a network store replicas on several hosts can share (replica mode)."""
        return self.redis_url is not None


def parse_storage_url(url: str | None) -> StorageTarget:
    """``file:///path`` (``file://`` alone: the default location) or ``redis[s]://…``; a
    UserError naming the problem otherwise. Nothing is contacted here."""
    from oci_mcp_cli.core.errors import UserError

    text = (url or "").strip()
    if not text:
        return StorageTarget()
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise UserError(
                f"storage URL {mask_storage_url(text)!r} names a host",
                hint="a file URL is local: file:///absolute/path (three slashes)",
            )
        path = unquote(parts.path)
        return StorageTarget(directory=Path(path).expanduser() if path else None)
    if scheme in REDIS_SCHEMES:
        problem = None
        try:
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            problem = "its port is not a number"
        db = parts.path.lstrip("/")
        if not parts.hostname:
            problem = "it names no host"
        elif db and not db.isdigit():
            problem = f"the database {db!r} is not a number"
        if problem:
            raise UserError(
                f"invalid storage URL {mask_storage_url(text)!r}: {problem}",
                hint="e.g. redis://127.0.0.1:6379/0, rediss://:PASSWORD@cache.example:6379/0",
            )
        return StorageTarget(redis_url=text)
    raise UserError(f"unsupported storage URL {mask_storage_url(text)!r}", hint=STORAGE_URL_HINT)


def mask_storage_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (safe to print and log)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def storage_password(url: str | None) -> str | None:
    """The password in a Redis URL (a secret to keep out of logs), if any."""
    if not url:
        return None
    with contextlib.suppress(ValueError):
        password = urlsplit(url).password
        return unquote(password) if password else None
    return None


def key_fingerprint(fernet_key: bytes) -> str:
    """12 hex digits naming a key without revealing it (the store's namespace)."""
    import hashlib

    return hashlib.sha256(fernet_key).hexdigest()[:12]


def redis_store(url: str, fernet_key: bytes) -> GuardedStore:
    """The OAuth state in Redis: py-key-value's ``RedisStore`` (native TTLs), collections
    prefixed with the key's fingerprint (two servers sharing one database never meet), values
    Fernet-encrypted with ``fernet_key``, failures reported by :class:`GuardedStore`.

    The client has connect/read timeouts (redis-py has none by default: a black-holed Redis
    would hang each request) and redis-py's own retry; its pool reconnects by itself when Redis
    returns, so no restart is needed."""
    from cryptography.fernet import Fernet
    from key_value.aio.stores.redis import RedisStore
    from key_value.aio.wrappers.encryption import FernetEncryptionWrapper
    from key_value.aio.wrappers.prefix_collections import PrefixCollectionsWrapper
    from redis.asyncio import Redis

    client = Redis.from_url(
        url,
        decode_responses=True,  # RedisStore reads str values
        socket_connect_timeout=REDIS_CONNECT_TIMEOUT_S,
        socket_timeout=REDIS_SOCKET_TIMEOUT_S,
        health_check_interval=30,
    )
    store = PrefixCollectionsWrapper(
        key_value=RedisStore(client=client), prefix=f"oci-mcp-{key_fingerprint(fernet_key)}"
    )
    encrypted = FernetEncryptionWrapper(
        key_value=store, fernet=Fernet(key=fernet_key), raise_on_decryption_error=False
    )
    guarded = GuardedStore(encrypted, label=mask_storage_url(url), closer=client.aclose)
    guarded.epoch = StoreEpoch(guarded)
    return guarded


# --- an unreachable store: 503 with a clear message, recovery without a restart ------------------

# Failures of the store during the current HTTP request (set by StorageGate).
_REQUEST_FAILURES: contextvars.ContextVar[list[BaseException] | None] = contextvars.ContextVar(
    "oci_mcp_storage_failures", default=None
)
# The shared epoch as first read during the current HTTP request (network epochs only).
_REQUEST_EPOCH: contextvars.ContextVar[dict[int, Any] | None] = contextvars.ContextVar(
    "oci_mcp_storage_epoch", default=None
)


class StorageUnavailable(Exception):
    """The OAuth state store could not be reached; the request cannot be answered correctly."""

    def __init__(self, label: str, cause: BaseException) -> None:
        detail = str(cause).strip().splitlines()
        reason = f"{cause.__class__.__name__}: {detail[0]}" if detail else cause.__class__.__name__
        super().__init__(f"the OAuth state store {label} is unreachable ({reason})")
        self.label = label
        self.reason = reason


def _unreachable_errors(redis: bool) -> tuple[type[BaseException], ...]:
    """Exceptions meaning "the backend cannot be reached", not "the data is bad" (redis-py's
    only for a ``redis`` backend: importing the client costs a file store's start ~0.2 s)."""
    from key_value.aio.errors import StoreConnectionError

    errors: list[type[BaseException]] = [OSError, asyncio.TimeoutError, StoreConnectionError]
    if not redis:
        return tuple(errors)
    with contextlib.suppress(ImportError):
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        errors += [RedisConnectionError, RedisTimeoutError]
    return tuple(errors)


def _base_wrapper() -> type:
    from key_value.aio.wrappers.base import BaseWrapper

    return BaseWrapper


class _Writes:
    """The write half of the key-value protocol, once: each write is one call on ``key_value``
    handed to ``_write`` with the keys it touches (GuardedStore: outage handling; ReadCache:
    the epoch bump that invalidates every replica's cache)."""

    key_value: Any

    async def _write(self, operation: Any, collection: str | None, keys: Sequence[str]) -> Any:
        raise NotImplementedError

    async def put(
        self,
        key: str,
        value: Mapping[str, Any],
        *,
        collection: str | None = None,
        ttl: Any = None,
    ) -> None:
        operation = self.key_value.put(key=key, value=value, collection=collection, ttl=ttl)
        await self._write(operation, collection, [key])

    async def put_many(
        self,
        keys: Sequence[str],
        values: Sequence[Mapping[str, Any]],
        *,
        collection: str | None = None,
        ttl: Any = None,
    ) -> None:
        operation = self.key_value.put_many(
            keys=keys, values=values, collection=collection, ttl=ttl
        )
        await self._write(operation, collection, keys)

    async def delete(self, key: str, *, collection: str | None = None) -> bool:
        operation = self.key_value.delete(key=key, collection=collection)
        return await self._write(operation, collection, [key])

    async def delete_many(self, keys: Sequence[str], *, collection: str | None = None) -> int:
        operation = self.key_value.delete_many(keys=keys, collection=collection)
        return await self._write(operation, collection, keys)


class GuardedStore(_Writes, _base_wrapper()):  # type: ignore[misc]
    """Passes every operation to ``key_value``; an unreachable backend raises
    :class:`StorageUnavailable` (recorded for :class:`StorageGate`), logged once per outage at
    WARNING, and once more when the store answers again."""

    def __init__(
        self, key_value: Any, *, label: str, closer: Any = None, epoch: Any = None
    ) -> None:
        self.key_value = key_value
        self.label = label
        self.epoch = epoch  # FileEpoch / StoreEpoch: what ReadCache checks (None: no cache)
        self.available: bool | None = None  # None: not used yet
        self.telemetry: Telemetry = DISABLED  # the server's (``app.build_server``)
        self.backend = "redis" if label.startswith(REDIS_SCHEMES) else "file"
        self._closer = closer
        self._errors = _unreachable_errors(self.backend == "redis")
        super().__init__()

    async def run(self, operation: Any) -> Any:
        """Await ``operation`` (on this store's backend) with the store's failure handling."""
        return await self._run(operation)

    async def _write(self, operation: Any, collection: str | None, keys: Sequence[str]) -> Any:
        return await self._run(operation)

    async def _run(self, operation: Any) -> Any:
        try:
            if self.telemetry.active:
                name = getattr(operation, "__qualname__", "?").rpartition(".")[2]
                with self.telemetry.storage(name, self.backend):
                    result = await operation
            else:
                result = await operation
        except self._errors as exc:
            error = StorageUnavailable(self.label, exc)
            if self.available is not False:
                LOGGER.warning(
                    f"{error}: sign-ins and MCP calls answer 503 until it is back "
                    "(no restart needed)"
                )
            self.available = False
            failures = _REQUEST_FAILURES.get()
            if failures is not None:
                failures.append(error)
            raise error from exc
        if self.available is False:
            LOGGER.warning(f"the OAuth state store {self.label} is reachable again")
        self.available = True
        return result

    async def get(self, key: str, *, collection: str | None = None) -> Any:
        return await self._run(self.key_value.get(key=key, collection=collection))

    async def get_many(self, keys: Sequence[str], *, collection: str | None = None) -> Any:
        return await self._run(self.key_value.get_many(keys=keys, collection=collection))

    async def ttl(self, key: str, *, collection: str | None = None) -> Any:
        return await self._run(self.key_value.ttl(key=key, collection=collection))

    async def ttl_many(self, keys: Sequence[str], *, collection: str | None = None) -> Any:
        return await self._run(self.key_value.ttl_many(keys=keys, collection=collection))

    async def aclose(self) -> None:
        """Close the backend's connections (the Redis client's pool)."""
        if self._closer is not None:
            with contextlib.suppress(Exception):
                await self._closer()


# --- a read-through cache that never outlives a write on any replica ----------------------------


class FileEpoch:
    """The shared epoch of a file store: 16 random bytes in ``<directory>/oci-mcp-epoch``
    (FileTreeStore ignores plain files at its top level), replaced atomically on every bump.
    Reading it is one small local read (no thread hop, no decryption), once per HTTP request.
    (Not ``stat``: inode numbers are reused and mtimes are coarse, two bumps can look alike.)"""

    memoize = True

    def __init__(self, path: Path) -> None:
        self.path = path

    async def read(self) -> bytes | None:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            return os.read(fd, 64)
        finally:
            os.close(fd)

    async def bump(self) -> None:
        temporary = self.path.with_name(f".{self.path.name}.{secrets.token_hex(6)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_bytes(16))
        finally:
            os.close(fd)
        os.replace(temporary, self.path)


class StoreEpoch:
    """The shared epoch kept in the store itself (Redis): an ordinary entry — encrypted,
    namespaced by the key fingerprint and with a native TTL like every other — read once per
    HTTP request (one round trip instead of every state read) and replaced on every write."""

    memoize = True
    collection = "oci-mcp-epoch"
    ttl_s = 7 * 24 * 3600  # renewed by every write; when it lapses the epoch reads as None

    def __init__(self, store: Any) -> None:
        self.store = store  # the GuardedStore the epoch belongs to

    async def read(self) -> Any:
        value = await self.store.key_value.get(key="epoch", collection=self.collection)
        return None if value is None else value.get("epoch")

    async def bump(self) -> None:
        await self.store.key_value.put(
            key="epoch",
            value={"epoch": secrets.token_hex(16)},
            collection=self.collection,
            ttl=self.ttl_s,
        )


@dataclass
class _Cached:
    epoch: Any
    until: float  # time.monotonic(): when this copy stops being used
    expires: float | None  # time.monotonic(): when the entry expires in the store
    value: str | None  # JSON: every hit returns a fresh copy


class ReadCache(_Writes, _base_wrapper()):  # type: ignore[misc]
    """Per-process read-through cache in front of a :class:`GuardedStore` (decrypted values).

    A value (or a miss) is served from memory only while (1) the store's shared epoch is the one
    it was read under, (2) it is younger than ``ttl_s`` and (3) its own TTL in the store has not
    run out. Every write through any replica's cache — a revocation, a deleted JTI mapping, a
    refresh, a new sign-in — replaces the epoch after the write completed, so every replica's
    next lookup misses and reads the store again: a revoked token is refused on the next
    request everywhere, as without the cache. ``ttl_s`` bounds the age of a value only if a
    write bypasses this wrapper (a crash between a write and its bump, another program)."""

    def __init__(
        self,
        key_value: GuardedStore,
        *,
        ttl_s: float = READ_CACHE_TTL_S,
        max_entries: int = READ_CACHE_MAX_ENTRIES,
        clock: Any = time.monotonic,
    ) -> None:
        self.key_value = key_value
        self.epoch = key_value.epoch
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[tuple[str | None, str], _Cached] = OrderedDict()
        super().__init__()

    # what the app reads off the store
    @property
    def label(self) -> str:
        return self.key_value.label

    @property
    def available(self) -> bool | None:
        return self.key_value.available

    @property
    def uncached(self) -> GuardedStore:
        return self.key_value

    async def aclose(self) -> None:
        await self.key_value.aclose()

    def clear(self) -> None:
        self._entries.clear()

    async def current_epoch(self) -> Any:
        """The store's shared epoch (read once per HTTP request): anything derived from the
        store under this value is current while the epoch is unchanged."""
        return await self._current_epoch()

    async def _current_epoch(self) -> Any:
        if not self.epoch.memoize:
            return await self.key_value.run(self.epoch.read())
        memo = _REQUEST_EPOCH.get()
        if memo is not None and id(self) in memo:
            return memo[id(self)]
        value = await self.key_value.run(self.epoch.read())
        if memo is not None:
            memo[id(self)] = value
        return value

    def _lookup(self, collection: str | None, key: str, epoch: Any, now: float) -> _Cached | None:
        entry = self._entries.get((collection, key))
        if entry is None or entry.epoch != epoch or entry.until <= now:
            return None
        return entry

    def _store(
        self, collection: str | None, key: str, epoch: Any, value: Any, ttl: Any, now: float
    ) -> None:
        lifetime = self.ttl_s if ttl is None else min(self.ttl_s, float(ttl))
        if lifetime <= 0:
            return
        cached = None if value is None else json.dumps(value)
        expires = None if ttl is None else now + float(ttl)
        self._entries[(collection, key)] = _Cached(epoch, now + lifetime, expires, cached)
        self._entries.move_to_end((collection, key))
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    @staticmethod
    def _value(entry: _Cached) -> Any:
        return None if entry.value is None else json.loads(entry.value)

    async def _read(
        self, keys: Sequence[str], collection: str | None
    ) -> list[tuple[Any, float | None]]:
        epoch = await self._current_epoch()
        now = self.clock()
        found: dict[str, _Cached] = {}
        for key in keys:
            entry = self._lookup(collection, key, epoch, now)
            if entry is not None:
                found[key] = entry
        missing = [key for key in keys if key not in found]
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        fresh: dict[str, tuple[Any, float | None]] = {}
        if missing:
            loaded = await self.key_value.ttl_many(keys=missing, collection=collection)
            for key, (value, ttl) in zip(missing, loaded, strict=True):
                fresh[key] = (value, ttl)
                self._store(collection, key, epoch, value, ttl, now)
        out: list[tuple[Any, float | None]] = []
        for key in keys:
            if key in fresh:
                out.append(fresh[key])
            else:
                entry = found[key]
                left = None if entry.expires is None else max(0.0, entry.expires - now)
                out.append((self._value(entry), left))
        return out

    async def _write(self, operation: Any, collection: str | None, keys: Sequence[str]) -> Any:
        try:
            return await operation
        finally:
            await self._written(collection, keys)

    async def _written(self, collection: str | None, keys: Sequence[str]) -> None:
        for key in keys:
            self._entries.pop((collection, key), None)
        await self.key_value.run(self.epoch.bump())
        memo = _REQUEST_EPOCH.get()
        if memo is not None:
            memo.pop(id(self), None)

    async def get(self, key: str, *, collection: str | None = None) -> Any:
        return (await self._read([key], collection))[0][0]

    async def get_many(self, keys: Sequence[str], *, collection: str | None = None) -> Any:
        return [value for value, _ in await self._read(list(keys), collection)]

    async def ttl(self, key: str, *, collection: str | None = None) -> Any:
        value, ttl = (await self._read([key], collection))[0]
        return (value, ttl) if value is not None else (None, None)

    async def ttl_many(self, keys: Sequence[str], *, collection: str | None = None) -> Any:
        found = await self._read(list(keys), collection)
        return [(v, t) if v is not None else (None, None) for v, t in found]


def read_cache(store: GuardedStore, ttl_s: float = READ_CACHE_TTL_S) -> Any:
    """``store`` behind a :class:`ReadCache` (``store`` itself when it has no epoch or
    ``ttl_s`` is 0)."""
    if getattr(store, "epoch", None) is None or ttl_s <= 0:
        return store
    return ReadCache(store, ttl_s=ttl_s)


async def probe(store: Any, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """True when ``store`` answers a read within ``timeout`` (``/health``, ``doctor``); always
    the backend itself, never a cached answer. Not counted as a failure of the current
    request."""
    store = getattr(store, "uncached", store)
    token = _REQUEST_FAILURES.set(None)
    try:
        await asyncio.wait_for(store.get(key="probe", collection=HEALTH_COLLECTION), timeout)
        return True
    except Exception:
        return False
    finally:
        _REQUEST_FAILURES.reset(token)


def unavailable_body(label: str | None = None) -> bytes:
    """The JSON of a 503 caused by the store (OAuth error shape, so clients show the text)."""
    where = f" ({label})" if label else ""
    return json.dumps(
        {
            "error": "temporarily_unavailable",
            "error_description": f"the server's OAuth state store{where} is unreachable; "
            "nothing was changed, try again shortly (your sign-in is kept)",
        }
    ).encode()


class StorageGate:
    """ASGI middleware: a request during which the store could not be reached is answered
    ``503 temporarily_unavailable`` (``Retry-After``) instead of whatever FastMCP made of the
    failure — a ``401`` at ``/mcp`` (the client would throw its tokens away and sign in again),
    a ``500``, or an OAuth ``server_error`` redirect. Once the response has started it is left
    alone."""

    def __init__(self, app: Any, label: str | None = None) -> None:
        self.app = app
        self.label = label

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        failures: list[BaseException] = []
        token = _REQUEST_FAILURES.set(failures)
        epoch_token = _REQUEST_EPOCH.set({})
        state = {"started": False, "replaced": False}

        async def guarded_send(message: Any) -> None:
            if state["replaced"]:
                return
            if message["type"] == "http.response.start" and failures:
                state["replaced"] = True
                await self._unavailable(send)
                return
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, receive, guarded_send)
        except Exception:
            if state["started"] or state["replaced"] or not failures:
                raise
            state["replaced"] = True
            await self._unavailable(send)
        finally:
            _REQUEST_FAILURES.reset(token)
            _REQUEST_EPOCH.reset(epoch_token)

    async def _unavailable(self, send: Any) -> None:
        body = unavailable_body(self.label)
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(RETRY_AFTER_S).encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
