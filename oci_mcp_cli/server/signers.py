"""The UPST signer cache: one ``TokenExchangeSigner`` per upstream access token.

Keyed by ``(sub, jti)`` of the upstream token (or ``sha256(token)`` when it has no ``jti``), so
two users never share a signer and a refreshed token gets a new one. Concurrent calls on one key
cause exactly one exchange (single-flight); the cache is bounded (LRU) and drops entries once
their upstream token has expired. Thread-safe: lookups run in worker threads, never on the loop.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

DEFAULT_CACHE_SIZE = 256
SignerFactory = Callable[[str], Any]


def cache_key(token: str, claims: Mapping[str, Any]) -> str:
    """The cache key of an upstream token: ``sub`` plus ``jti``, or a SHA-256 of the token."""
    jti = claims.get("jti")
    if jti:
        return f"jti:{claims.get('sub', '')}:{jti}"
    return "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass
class _Entry:
    signer: Any
    expires_at: float | None


class SignerCache:
    """Bounded, expiring, single-flight cache of per-token signers."""

    def __init__(
        self,
        factory: SignerFactory,
        *,
        max_size: int = DEFAULT_CACHE_SIZE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self._factory = factory
        self._max_size = max_size
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._inflight: dict[str, Future[Any]] = {}

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def keys(self) -> list[str]:
        """Current keys, least recently used first (for tests and diagnostics)."""
        with self._lock:
            return list(self._entries)

    def get(self, token: str, claims: Mapping[str, Any]) -> Any:
        """The signer for ``token``; built once (even under concurrency) on a miss. Blocking."""
        if not token:
            raise ValueError("an upstream access token is required")
        key = cache_key(token, claims)
        exp = claims.get("exp")
        expires_at = float(exp) if isinstance(exp, int | float) else None
        with self._lock:
            self._evict_expired()
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                return entry.signer
            future = self._inflight.get(key)
            owner = future is None
            if future is None:
                future = Future()
                self._inflight[key] = future
        if not owner:
            return future.result()
        try:
            signer = self._factory(token)
        except BaseException as exc:  # failures are not cached: the next call retries
            with self._lock:
                self._inflight.pop(key, None)
            future.set_exception(exc)
            raise
        with self._lock:
            self._inflight.pop(key, None)
            self._entries[key] = _Entry(signer, expires_at)
            while len(self._entries) > self._max_size:
                self._entries.popitem(last=False)
        future.set_result(signer)
        return signer

    def _evict_expired(self) -> None:
        now = self._clock()
        expired = [
            k for k, e in self._entries.items() if e.expires_at is not None and e.expires_at <= now
        ]
        for key in expired:
            del self._entries[key]


def token_exchange_factory(domain_url: str, client_id: str, client_secret: str) -> SignerFactory:
    """A factory building a real ``TokenExchangeSigner`` (domain URL passed positionally)."""

    def build(token: str) -> Any:
        from oci.auth.signers import TokenExchangeSigner

        return TokenExchangeSigner(token, domain_url, client_id, client_secret)

    return build
