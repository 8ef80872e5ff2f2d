"""OAuth state stays bounded (real server + sandbox over HTTP, ``--storage-dir``): an anonymous
flood adds a bounded number of files, expired entries are culled at startup and periodically, and
a registration nobody signs in with expires."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from guard_support import (
    CALLBACK,
    authorize_url,
    files,
    pkce,
    redeem,
    register,
    serving,
    sign_in,
)
from oauth_flow import password, wait_past
from serve_support import provisioned_sandbox

from oci_mcp_cli.server.auth import encrypted_store, signing_key_bytes
from oci_mcp_cli.server.config import ServerSettings, load_settings
from oci_mcp_cli.server.oauth_guard import CLIENT_TTL_S, PENDING_CLIENT_TTL_S
from oci_mcp_cli.server.storage import cull_expired

pytestmark = pytest.mark.e2e
TRANSACTIONS = "mcp-oauth-transactions"
CODES = "mcp-authorization-codes"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, ServerSettings]]:
    tmp = tmp_path_factory.mktemp("bounds")
    with provisioned_sandbox(tmp) as (sb, env_file, _):
        yield sb, load_settings(env_file, log_level="WARNING")


def _store(settings: ServerSettings, directory: Path) -> Any:
    return encrypted_store(directory, signing_key_bytes(settings.jwt_signing_key))


def _put(store: Any, collection: str, keys: list[str], ttl: float) -> None:
    async def main() -> None:
        for key in keys:
            await store.put(key, {"test": key}, collection=collection, ttl=ttl)

    anyio.run(main)


def _entries(directory: Path, collection: str) -> list[Path]:
    """Entry files of ``collection`` (directories are named ``S_<name>-<hash>`` by FastMCP's
    sanitization strategy)."""
    prefix = "S_" + collection.replace("-", "_") + "-"
    return [p for p in files(directory) if p.parent.name.startswith(prefix)]


def _eventually(predicate: Any, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)  # poll interval of a background task's effect
    return bool(predicate())


def test_anonymous_flood_adds_bounded_state(env: Any, tmp_path: Path) -> None:
    """900 anonymous requests used to add ~900 files; with the default limits (burst 10, 60 per
    minute per address) each entry point accepts at most burst + elapsed seconds."""
    _, settings = env
    storage = tmp_path / "oauth"
    with serving(settings, storage_dir=storage) as server:
        client_id = register(server, CALLBACK).json()["client_id"]
        _, challenge = pkce()
        http = httpx.Client(follow_redirects=False, timeout=10)
        first = http.get(authorize_url(server, client_id, CALLBACK, challenge))
        consent_url = first.headers["location"]
        before = len(files(storage))
        started = time.monotonic()
        statuses: dict[str, list[int]] = {"register": [], "authorize": [], "consent": []}
        for _ in range(300):
            statuses["register"].append(register(server, CALLBACK).status_code)
            statuses["authorize"].append(
                http.get(authorize_url(server, client_id, CALLBACK, challenge)).status_code
            )
            statuses["consent"].append(http.get(consent_url).status_code)
        elapsed = time.monotonic() - started
        grown = len(files(storage)) - before
    accepted_max = settings.rate_burst + elapsed * settings.rate_limit / 60 + 1
    for name, codes in statuses.items():
        assert 429 in codes, name
        assert len([c for c in codes if c != 429]) <= accepted_max, (name, elapsed)
    # one file per accepted request (client, transaction, consent token) + collection metadata
    assert grown <= 3 * accepted_max + 3, (grown, elapsed)


def test_expired_state_is_culled_at_startup_and_periodically(env: Any, tmp_path: Path) -> None:
    _, settings = env
    storage = tmp_path / "oauth"
    store = _store(settings, storage)
    _put(store, TRANSACTIONS, [f"old-{i}" for i in range(5)], ttl=1)
    _put(store, CODES, ["live"], ttl=3600)
    wait_past(time.time() + 1.1)
    assert len(_entries(storage, TRANSACTIONS)) == 5
    with serving(settings, storage_dir=storage, cull_interval_s=0.5):
        assert _eventually(lambda: not _entries(storage, TRANSACTIONS))  # startup cull
        assert len(_entries(storage, CODES)) == 1  # not expired: kept
        _put(store, TRANSACTIONS, ["later-1", "later-2"], ttl=1)
        assert len(_entries(storage, TRANSACTIONS)) == 2
        assert _eventually(lambda: not _entries(storage, TRANSACTIONS))  # periodic cull
        assert len(_entries(storage, CODES)) == 1


def test_cull_reaches_through_wrappers(env: Any, tmp_path: Path) -> None:
    """The encrypted store is a FernetEncryptionWrapper around a FileTreeStore: the expiry is
    metadata outside the encrypted value, so culling needs no key."""
    _, settings = env
    store = _store(settings, tmp_path)
    _put(store, TRANSACTIONS, ["a", "b"], ttl=1)
    wait_past(time.time() + 1.1)
    assert anyio.run(cull_expired, store) == 1
    assert not _entries(tmp_path, TRANSACTIONS)


def test_registrations_expire_unless_used(env: Any, tmp_path: Path) -> None:
    sb, settings = env
    storage = tmp_path / "oauth"
    with serving(settings, storage_dir=storage) as server:
        unused = register(server, CALLBACK).json()["client_id"]
        grant = sign_in(server, "alice", password(sb, "alice"))
        assert redeem(server, grant).status_code == 200
    store = _store(settings, storage)

    async def ttl(client_id: str) -> float:
        _, remaining = await store.ttl(client_id, collection="mcp-oauth-proxy-clients")
        assert remaining is not None, client_id
        return remaining

    assert 0 < anyio.run(ttl, unused) <= PENDING_CLIENT_TTL_S
    assert PENDING_CLIENT_TTL_S < anyio.run(ttl, grant.client_id) <= CLIENT_TTL_S
