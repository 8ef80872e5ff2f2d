"""Expired OAuth state is removed from any store, on startup and periodically.

FastMCP culls only the file store it creates itself (``OAuthProxy._maybe_cull_expired_state``,
fastmcp 4.2.3 ``oauth_proxy/proxy.py`` 764-797; PrefectHQ/fastmcp#5718); a store passed as
``client_storage`` (``--storage-dir``, or a Redis store later) keeps every expired transaction,
consent token and code. Every entry carries its expiry in the store's own metadata (py-key-value's
``ManagedEntry.expires_at``, outside the Fernet-encrypted value), so culling needs no key:
:func:`cull_expired` walks the wrappers (``FernetEncryptionWrapper`` …) down to each store that
implements ``cull()`` (``AsyncCullProtocol``: FileTreeStore, Elasticsearch, OpenSearch). Stores
that expire keys themselves (Redis, Valkey, Memcached: native TTLs) have nothing to cull.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

LOGGER = logging.getLogger("oci_mcp.server")
DEFAULT_CULL_INTERVAL_S = 600.0


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
