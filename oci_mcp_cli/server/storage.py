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
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

LOGGER = logging.getLogger("oci_mcp.server")
DEFAULT_CULL_INTERVAL_S = 600.0
REDIS_SCHEMES = ("redis", "rediss")
STORAGE_URL_HINT = "use file:///path, redis://[:password@]host:port/db or rediss://… (TLS)"
REDIS_CONNECT_TIMEOUT_S = 3.0  # an unreachable Redis fails the request, it does not hang it
REDIS_SOCKET_TIMEOUT_S = 5.0
PROBE_TIMEOUT_S = 3.0
RETRY_AFTER_S = 5
HEALTH_COLLECTION = "oci-mcp-health"


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
    return GuardedStore(encrypted, label=mask_storage_url(url), closer=client.aclose)


# --- an unreachable store: 503 with a clear message, recovery without a restart ------------------

# Failures of the store during the current HTTP request (set by StorageGate).
_REQUEST_FAILURES: contextvars.ContextVar[list[BaseException] | None] = contextvars.ContextVar(
    "oci_mcp_storage_failures", default=None
)


class StorageUnavailable(Exception):
    """The OAuth state store could not be reached; the request cannot be answered correctly."""

    def __init__(self, label: str, cause: BaseException) -> None:
        detail = str(cause).strip().splitlines()
        reason = f"{cause.__class__.__name__}: {detail[0]}" if detail else cause.__class__.__name__
        super().__init__(f"the OAuth state store {label} is unreachable ({reason})")
        self.label = label
        self.reason = reason


def _unreachable_errors() -> tuple[type[BaseException], ...]:
    """Exceptions meaning "the backend cannot be reached", not "the data is bad"."""
    from key_value.aio.errors import StoreConnectionError

    errors: list[type[BaseException]] = [OSError, asyncio.TimeoutError, StoreConnectionError]
    with contextlib.suppress(ImportError):
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        errors += [RedisConnectionError, RedisTimeoutError]
    return tuple(errors)


def _base_wrapper() -> type:
    from key_value.aio.wrappers.base import BaseWrapper

    return BaseWrapper


class GuardedStore(_base_wrapper()):  # type: ignore[misc]
    """Passes every operation to ``key_value``; an unreachable backend raises
    :class:`StorageUnavailable` (recorded for :class:`StorageGate`), logged once per outage at
    WARNING, and once more when the store answers again."""

    def __init__(self, key_value: Any, *, label: str, closer: Any = None) -> None:
        self.key_value = key_value
        self.label = label
        self.available: bool | None = None  # None: not used yet
        self._closer = closer
        self._errors = _unreachable_errors()
        super().__init__()

    async def _run(self, operation: Any) -> Any:
        try:
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

    async def put(
        self,
        key: str,
        value: Mapping[str, Any],
        *,
        collection: str | None = None,
        ttl: Any = None,
    ) -> None:
        await self._run(self.key_value.put(key=key, value=value, collection=collection, ttl=ttl))

    async def put_many(
        self,
        keys: Sequence[str],
        values: Sequence[Mapping[str, Any]],
        *,
        collection: str | None = None,
        ttl: Any = None,
    ) -> None:
        await self._run(
            self.key_value.put_many(keys=keys, values=values, collection=collection, ttl=ttl)
        )

    async def delete(self, key: str, *, collection: str | None = None) -> bool:
        return await self._run(self.key_value.delete(key=key, collection=collection))

    async def delete_many(self, keys: Sequence[str], *, collection: str | None = None) -> int:
        return await self._run(self.key_value.delete_many(keys=keys, collection=collection))

    async def aclose(self) -> None:
        """Close the backend's connections (the Redis client's pool)."""
        if self._closer is not None:
            with contextlib.suppress(Exception):
                await self._closer()


async def probe(store: Any, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """True when ``store`` answers a read within ``timeout`` (``/health``, ``doctor``). Not
    counted as a failure of the current request."""
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
