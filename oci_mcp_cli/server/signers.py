"""The UPST signer cache: one ``TokenExchangeSigner`` per upstream access token.

Keyed by ``(sub, jti)`` of the upstream token (or ``sha256(token)`` when it has no ``jti``), so
two users never share a signer and a refreshed token gets a new one. Concurrent calls on one key
cause exactly one exchange (single-flight); the cache is bounded (LRU) and drops entries once
their upstream token has expired. Thread-safe: lookups run in worker threads, never on the loop.

Deadlines and revalidation:

- a call's deadline (``deadline_scope``, a context variable copied into worker threads) bounds
  the exchange's HTTP timeouts and how long a caller waits for another caller's exchange;
- an exchange answered with a 5xx or a connection error is retried once, after a short pause,
  when the deadline leaves time for it (:func:`retry_transient_once`): one blip of the identity
  domain does not fail a cold user's first call, a sustained outage still fails it clearly;
- an entry older than ``revalidate_after`` seconds is revalidated (the exchange is re-run, once
  even under concurrency) before it is used again. The identity domain refusing it drops the
  entry (:class:`SignerRefused`); the domain being unreachable fails the call
  (:class:`RevalidationUnavailable`, fail closed) unless ``outage_policy="open"``.
- an entry's per-signer resources (the SDK's per-instance logger, its HTTP session) are released
  when the entry leaves the cache, and when building a signer fails; listeners
  (:meth:`SignerCache.on_retire`, e.g. the per-signer OCI client pool) are told when a signer
  leaves the cache or was revalidated, so nothing built on it outlives it.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from oci_mcp_cli.core.ociconfig import DeadlineExceeded
from oci_mcp_cli.server.telemetry import DISABLED, Telemetry

DEFAULT_CACHE_SIZE = 256
DEFAULT_REVALIDATE_AFTER_S = 300.0
EXCHANGE_TIMEOUT = (5.0, 10.0)  # connect, read seconds of one token-exchange POST
OUTAGE_RETRY_S = 10.0  # fail-open only: how soon a failed revalidation is tried again
EXCHANGE_RETRY_PAUSE_S = 0.2  # before the one retry of a transiently failed exchange
OUTAGE_POLICIES = ("closed", "open")
SignerFactory = Callable[[str], Any]
LOGGER = logging.getLogger("oci_mcp.server.signers")

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "oci_mcp_deadline", default=None
)


# --- deadlines ------------------------------------------------------------------------------


def current_deadline() -> float | None:
    """The current call's deadline (``time.monotonic()`` based), or None outside a call."""
    return _DEADLINE.get()


def remaining() -> float | None:
    """Seconds left before the current call's deadline (may be <= 0), or None without one."""
    deadline = _DEADLINE.get()
    return None if deadline is None else deadline - time.monotonic()


class deadline_scope:  # noqa: N801 - used like the function it was: ``with deadline_scope(s)``
    """Run the block under a deadline ``seconds`` from now (an earlier outer one is kept);
    ``as`` gives the deadline (``time.monotonic()`` based). A class, not a generator: a call
    enters three of these, and a generator context manager costs about three times as much."""

    __slots__ = ("_seconds", "_keep_earlier", "_token")

    def __init__(self, seconds: float, *, keep_earlier: bool = True) -> None:
        self._seconds = seconds
        self._keep_earlier = keep_earlier

    def __enter__(self) -> float:
        deadline = time.monotonic() + self._seconds
        outer = _DEADLINE.get()
        if self._keep_earlier and outer is not None:
            deadline = min(deadline, outer)
        self._token = _DEADLINE.set(deadline)
        return deadline

    def __exit__(self, *exc: object) -> None:
        _DEADLINE.reset(self._token)


def bounded_timeout(timeout: tuple[float, float]) -> tuple[float, float]:
    """``(connect, read)`` capped by what is left of the current deadline."""
    left = remaining()
    if left is None:
        return timeout
    if left <= 0:
        raise DeadlineExceeded("the tool call's deadline passed before the request was sent")
    return (min(timeout[0], left), min(timeout[1], left))


# --- per-signer resources -------------------------------------------------------------------


def release_logger(logger: logging.Logger | None, *, keep_handlers: bool = False) -> None:
    """Remove a per-instance SDK logger (``<module>.<id>``) from the logging registry.

    ``logging.getLogger`` keeps every logger forever; the SDK creates one per signer and per
    client, so without this the registry grows with every cached signer and every tool call.
    ``keep_handlers``: the logger stays usable by its owner (a client still in use), it is
    only no longer registered.
    """
    if logger is None:
        return
    manager = logging.Logger.manager
    lock = getattr(logging, "_lock", None) or contextlib.nullcontext()
    with lock:
        if manager.loggerDict.get(logger.name) is logger:
            del manager.loggerDict[logger.name]
        name = logger.name
        while "." in name:  # placeholders of missing parents keep a reference too
            name = name.rsplit(".", 1)[0]
            parent = manager.loggerDict.get(name)
            if isinstance(parent, logging.PlaceHolder):
                parent.loggerMap.pop(logger, None)
    if not keep_handlers:
        logger.handlers.clear()


def release_signer(signer: Any) -> None:
    """Release what a signer holds (``close()`` when it has one). Never raises."""
    close = getattr(signer, "close", None)
    if callable(close):
        try:
            close()
        except Exception:  # releasing must not fail a call
            LOGGER.debug("closing a signer failed", exc_info=True)


def is_transient(exc: BaseException) -> bool:
    """True when a retry of the exchange may succeed: a 5xx answer, or a connection error that
    is not a timeout (a timeout already spent its time; a 429 asks us to slow down)."""
    from oci._vendor import requests

    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(status, int):
        return status >= 500
    return isinstance(exc, requests.exceptions.ConnectionError) and not isinstance(
        exc, requests.exceptions.Timeout
    )


def retry_transient_once(exchange: Callable[[], Any]) -> Any:
    """``exchange()``, run once more after :data:`EXCHANGE_RETRY_PAUSE_S` when it failed
    transiently and the current deadline (if any) leaves more than the pause."""
    try:
        return exchange()
    except Exception as exc:
        left = remaining()
        if not is_transient(exc) or (left is not None and left <= EXCHANGE_RETRY_PAUSE_S):
            raise
        LOGGER.info("token exchange failed transiently (%s); retrying once", _short(exc))
    time.sleep(EXCHANGE_RETRY_PAUSE_S)
    return exchange()


def _short(exc: BaseException) -> str:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    return f"HTTP {status}" if isinstance(status, int) else exc.__class__.__name__


_SIGNER_CLASS: Any = None
_CLASS_LOCK = threading.Lock()


def bounded_signer_class() -> Any:
    """``TokenExchangeSigner`` with timeouts, revalidation and release (built on first use so
    that importing this module stays free of ``oci``).

    oci 2.189.0's signer posts the exchange with no timeout and registers a logger per instance
    that nothing removes; this subclass gives its session a deadline-capped ``(connect, read)``
    timeout and releases both in :meth:`close`.
    """
    global _SIGNER_CLASS
    with _CLASS_LOCK:
        if _SIGNER_CLASS is not None:
            return _SIGNER_CLASS
        from oci._vendor import requests
        from oci.auth.security_token_container import SecurityTokenContainer
        from oci.auth.signers import TokenExchangeSigner

        class _TimeoutSession(requests.Session):
            timeout: tuple[float, float] = EXCHANGE_TIMEOUT

            def request(self, *args: Any, **kwargs: Any) -> Any:
                if kwargs.get("timeout") is None:
                    kwargs["timeout"] = bounded_timeout(self.timeout)
                return super().request(*args, **kwargs)

        class BoundedTokenExchangeSigner(TokenExchangeSigner):
            def __init__(
                self,
                token: str,
                domain_url: str,
                client_id: str,
                client_secret: str,
                *,
                timeout: tuple[float, float] = EXCHANGE_TIMEOUT,
            ) -> None:
                self._timeout = timeout
                try:  # the SDK registers its logger before the (possibly failing) exchange
                    super().__init__(token, domain_url, client_id, client_secret)
                except BaseException:
                    self.close()
                    raise

            # The SDK assigns ``self.requests_session = requests.Session()``; keep ours instead.
            @property
            def requests_session(self) -> Any:
                return self.__dict__.get("_session")

            @requests_session.setter
            def requests_session(self, value: Any) -> None:
                if value is not None and not isinstance(value, _TimeoutSession):
                    value.close()
                    value = _TimeoutSession()
                    value.timeout = self._timeout
                self.__dict__["_session"] = value

            def _get_new_token(self) -> Any:
                return retry_transient_once(super()._get_new_token)

            def revalidate(self) -> None:
                """Re-run the exchange for the same upstream token and session key: the domain
                checks the token, user, client app and trust again. Raises on refusal."""
                with self._reset_signers_lock:
                    token = self._get_new_token()
                    self.security_token_container = SecurityTokenContainer(
                        self.session_key_supplier, token
                    )
                    self._reset_signers()

            def close(self) -> None:
                session = self.__dict__.get("_session")
                if session is not None:
                    session.close()
                release_logger(getattr(self, "logger", None))

        _SIGNER_CLASS = BoundedTokenExchangeSigner
        return _SIGNER_CLASS


# --- the cache ------------------------------------------------------------------------------


class SignerRefused(Exception):
    """The identity domain refused to revalidate a cached signer; the entry was dropped."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class RevalidationUnavailable(Exception):
    """A cached signer is due for revalidation and the identity domain could not be reached
    (fail-closed policy): the call fails, the entry stays and is revalidated on the next call."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def cache_key(token: str, claims: Mapping[str, Any]) -> str:
    """The cache key of an upstream token: ``sub`` plus ``jti``, or a SHA-256 of the token."""
    jti = claims.get("jti")
    if jti:
        return f"jti:{claims.get('sub', '')}:{jti}"
    return "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()


def is_refusal(exc: BaseException) -> bool:
    """True when the identity domain answered the exchange with a 4xx other than 429 (it looked
    at the request and said no); False for timeouts, connection errors, 429 and 5xx (outage)."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return isinstance(status, int) and 400 <= status < 500 and status != 429


def _timed_out(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError) or "Timeout" in exc.__class__.__name__


@dataclass
class CacheStats:
    """Counters of a :class:`SignerCache` (read by a metrics sink on scrape)."""

    hits: int = 0
    misses: int = 0  # lookups that started an exchange (or waited for one) or a revalidation
    evictions: int = 0  # entries dropped for room (LRU) or because their token expired


@dataclass
class _Entry:
    signer: Any
    expires_at: float | None
    validated_at: float


class SignerCache:
    """Bounded, expiring, single-flight cache of per-token signers, revalidated periodically."""

    def __init__(
        self,
        factory: SignerFactory,
        *,
        max_size: int = DEFAULT_CACHE_SIZE,
        clock: Callable[[], float] = time.time,
        revalidate_after: float | None = None,
        outage_policy: str = "closed",
        revalidator: Callable[[Any], None] | None = None,
        refusal: Callable[[BaseException], bool] = is_refusal,
        release: Callable[[Any], None] = release_signer,
    ) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self._factory = factory
        self._max_size = max_size
        self._clock = clock
        self._lock = threading.Lock()
        self.configure(revalidate_after=revalidate_after, outage_policy=outage_policy)
        self._revalidator = revalidator or (lambda signer: signer.revalidate())
        self._refusal = refusal
        self._release = release
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._inflight: dict[str, Future[Any]] = {}
        self._listeners: list[Callable[[Any], None]] = []
        self.stats = CacheStats()
        self.telemetry: Telemetry = DISABLED  # the server's (``clients.attach_runtime``)

    def on_retire(self, listener: Callable[[Any], None]) -> None:
        """Call ``listener(signer)`` when a signer leaves the cache (LRU, expiry, refused
        revalidation, ``clear``) and after it was revalidated (what was built on it goes)."""
        self._listeners.append(listener)

    def _retired(self, signer: Any) -> None:
        for listener in self._listeners:
            try:
                listener(signer)
            except Exception:  # a listener must not fail a call
                LOGGER.debug("a signer listener failed", exc_info=True)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def keys(self) -> list[str]:
        """Current keys, least recently used first (for tests and diagnostics)."""
        with self._lock:
            return list(self._entries)

    def get(self, token: str, claims: Mapping[str, Any], *, deadline: float | None = None) -> Any:
        """The signer for ``token``: built once (even under concurrency) on a miss, revalidated
        once when due. Blocking; waiting for another caller's exchange ends at ``deadline``
        (``time.monotonic()``; default: the current call's) with :class:`DeadlineExceeded`."""
        if not token:
            raise ValueError("an upstream access token is required")
        if deadline is None:
            deadline = current_deadline()
        key = cache_key(token, claims)
        exp = claims.get("exp")
        expires_at = float(exp) if isinstance(exp, int | float) else None
        hit: _Entry | None = None
        future: Future[Any] | None = None
        owner = False
        with self._lock:
            released = self._evict_expired()
            self.stats.evictions += len(released)
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            if entry is not None and not self._due(entry):
                hit = entry
                self.stats.hits += 1
            else:
                self.stats.misses += 1
                future = self._inflight.get(key)
                owner = future is None
                if future is None:
                    future = Future()
                    self._inflight[key] = future
        self._release_all(released)
        if hit is not None:
            return hit.signer
        assert future is not None
        if not owner:
            try:
                return self._wait(future, deadline)
            except Exception as exc:
                # The owner ran out of *its* time (e.g. its call's deadline was earlier): a
                # waiter with time left tries again itself instead of inheriting that timeout.
                if _timed_out(exc) and (deadline is None or time.monotonic() < deadline):
                    return self.get(token, claims, deadline=deadline)
                raise
        user = claims.get("sub")
        if entry is not None:
            return self._revalidate(key, entry, future, user)
        return self._build(key, token, expires_at, future, user)

    def configure(
        self, *, revalidate_after: float | None, outage_policy: str = "closed"
    ) -> None:
        """Set the revalidation period (None: never, 0: every call) and the outage policy."""
        if revalidate_after is not None and revalidate_after < 0:
            raise ValueError("revalidate_after must be >= 0 (or None: never)")
        if outage_policy not in OUTAGE_POLICIES:
            raise ValueError(f"outage_policy must be one of {OUTAGE_POLICIES}")
        with self._lock:
            self._revalidate_after = revalidate_after
            self._outage_policy = outage_policy

    def clear(self) -> None:
        """Drop every entry and release its signer."""
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()
        self._release_all([e.signer for e in entries])

    # -- internals --

    def _due(self, entry: _Entry) -> bool:
        if self._revalidate_after is None:
            return False
        return self._clock() - entry.validated_at >= self._revalidate_after

    @staticmethod
    def _wait(future: Future[Any], deadline: float | None) -> Any:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            if future.done():  # the exchange itself raised a TimeoutError
                raise
            raise DeadlineExceeded(
                "the tool call's deadline passed while waiting for the token exchange"
            ) from None

    def _abandon(self, key: str, future: Future[Any], exc: BaseException) -> None:
        """The single flight for ``key`` failed: the next call starts a new one, and the calls
        waiting on this one get ``exc``."""
        with self._lock:
            self._inflight.pop(key, None)
        future.set_exception(exc)

    def _build(
        self, key: str, token: str, expires_at: float | None, future: Future[Any], user: Any = None
    ) -> Any:
        try:
            with self.telemetry.token_exchange(user):
                signer = self._factory(token)
        except BaseException as exc:  # failures are not cached: the next call retries
            self._abandon(key, future, exc)
            raise
        with self._lock:
            self._inflight.pop(key, None)
            self._entries[key] = _Entry(signer, expires_at, self._clock())
            evicted = []
            while len(self._entries) > self._max_size:
                evicted.append(self._entries.popitem(last=False)[1].signer)
            self.stats.evictions += len(evicted)
        self._release_all(evicted)
        future.set_result(signer)
        return signer

    def _revalidate(self, key: str, entry: _Entry, future: Future[Any], user: Any = None) -> Any:
        try:
            with self.telemetry.revalidation(user) as report:
                try:
                    self._revalidator(entry.signer)
                except Exception as exc:
                    report["outcome"] = (
                        "refused" if self._refusal(exc)
                        else "fail_open" if self._outage_policy == "open" else "unavailable"
                    )
                    raise
        except Exception as exc:
            refused = self._refusal(exc)
            fail_open = not refused and self._outage_policy == "open"
            with self._lock:
                self._inflight.pop(key, None)
                if refused and self._entries.get(key) is entry:
                    del self._entries[key]
                elif fail_open:  # try again soon, not on every call of the outage
                    period = self._revalidate_after or 0.0
                    entry.validated_at = self._clock() - period + min(OUTAGE_RETRY_S, period)
            if fail_open:
                LOGGER.warning(
                    "signer revalidation failed (%s); the fail-open policy keeps using it",
                    exc.__class__.__name__,
                )
                future.set_result(entry.signer)
                return entry.signer
            if refused:
                self._release_all([entry.signer])
            error = SignerRefused(exc) if refused else RevalidationUnavailable(exc)
            future.set_exception(error)
            raise error from exc
        except BaseException as exc:
            self._abandon(key, future, exc)
            raise
        with self._lock:
            self._inflight.pop(key, None)
            entry.validated_at = self._clock()
        self._retired(entry.signer)  # clients built on it are rebuilt with the new token
        future.set_result(entry.signer)
        return entry.signer

    def _evict_expired(self) -> list[Any]:
        now = self._clock()
        expired = [
            k for k, e in self._entries.items() if e.expires_at is not None and e.expires_at <= now
        ]
        return [self._entries.pop(key).signer for key in expired]

    def _release_all(self, signers: list[Any]) -> None:
        for signer in signers:
            self._retired(signer)
            self._release(signer)


def token_exchange_factory(
    domain_url: str,
    client_id: str,
    client_secret: str,
    *,
    timeout: tuple[float, float] = EXCHANGE_TIMEOUT,
) -> SignerFactory:
    """A factory building a real (bounded) ``TokenExchangeSigner``."""

    def build(token: str) -> Any:
        return bounded_signer_class()(token, domain_url, client_id, client_secret, timeout=timeout)

    return build
