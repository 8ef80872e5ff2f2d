"""Unit tests of the UPST signer cache.

A fake signer factory is used here (instead of the real TokenExchangeSigner) to count constructions
deterministically and to control timing; the e2e tests exercise the real signer against the sandbox.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from oci_mcp_cli.server.signers import SignerCache, cache_key


class CountingFactory:
    """Builds a unique object per call, optionally blocking until released."""

    def __init__(self, gate: threading.Event | None = None, fail: bool = False) -> None:
        self.calls: list[str] = []
        self.gate = gate
        self.fail = fail
        self.lock = threading.Lock()

    def __call__(self, token: str) -> object:
        with self.lock:
            self.calls.append(token)
        if self.gate is not None:
            assert self.gate.wait(10)
        if self.fail:
            raise RuntimeError("exchange failed")
        return object()


def claims(sub: str, jti: str | None, exp: float | None = 2e9) -> dict:
    out: dict = {"sub": sub}
    if jti is not None:
        out["jti"] = jti
    if exp is not None:
        out["exp"] = exp
    return out


def test_key_uses_sub_and_jti_or_token_hash() -> None:
    assert cache_key("t1", claims("alice", "j1")) == "jti:alice:j1"
    assert cache_key("t1", claims("alice", "j1")) != cache_key("t1", claims("bob", "j1"))
    no_jti = cache_key("token-a", claims("alice", None))
    assert no_jti.startswith("sha256:") and "token-a" not in no_jti
    assert no_jti != cache_key("token-b", claims("alice", None))


def test_same_token_reuses_signer_and_users_never_share() -> None:
    factory = CountingFactory()
    cache = SignerCache(factory)
    a1 = cache.get("ta", claims("alice", "ja"))
    a2 = cache.get("ta", claims("alice", "ja"))
    b = cache.get("tb", claims("bob", "jb"))
    assert a1 is a2 and a1 is not b
    assert factory.calls == ["ta", "tb"]


def test_single_flight_under_concurrency() -> None:
    gate = threading.Event()
    factory = CountingFactory(gate)
    cache = SignerCache(factory)
    with ThreadPoolExecutor(max_workers=50) as pool:
        futures = [pool.submit(cache.get, "ta", claims("alice", "ja")) for _ in range(50)]
        futures += [pool.submit(cache.get, "tb", claims("bob", "jb")) for _ in range(50)]
        gate.set()
        results = [f.result(timeout=10) for f in futures]
    assert sorted(factory.calls) == ["ta", "tb"]
    assert len({id(r) for r in results[:50]}) == 1
    assert len({id(r) for r in results[50:]}) == 1
    assert results[0] is not results[50]


def test_failure_is_shared_by_waiters_and_not_cached() -> None:
    gate = threading.Event()
    factory = CountingFactory(gate, fail=True)
    cache = SignerCache(factory)
    with ThreadPoolExecutor(max_workers=10) as pool:
        futures = [pool.submit(cache.get, "ta", claims("alice", "ja")) for _ in range(10)]
        gate.set()
        for f in futures:
            with pytest.raises(RuntimeError, match="exchange failed"):
                f.result(timeout=10)
    assert len(factory.calls) == 1
    factory.fail = False
    assert cache.get("ta", claims("alice", "ja")) is not None
    assert len(factory.calls) == 2


def test_lru_bound() -> None:
    factory = CountingFactory()
    cache = SignerCache(factory, max_size=2)
    cache.get("t1", claims("u", "1"))
    cache.get("t2", claims("u", "2"))
    cache.get("t1", claims("u", "1"))  # t1 becomes most recently used
    cache.get("t3", claims("u", "3"))  # evicts t2
    assert len(cache) == 2
    assert cache.keys() == ["jti:u:1", "jti:u:3"]
    cache.get("t2", claims("u", "2"))
    assert factory.calls == ["t1", "t2", "t3", "t2"]


def test_expired_entries_are_evicted() -> None:
    now = [1000.0]
    factory = CountingFactory()
    cache = SignerCache(factory, clock=lambda: now[0])
    first = cache.get("t1", claims("u", "1", exp=1060))
    cache.get("t2", claims("u", "2", exp=5000))
    now[0] = 1061
    assert cache.get("t2", claims("u", "2", exp=5000)) is not None
    assert cache.keys() == ["jti:u:2"]
    assert cache.get("t1", claims("u", "1", exp=1060)) is not first
    assert factory.calls == ["t1", "t2", "t1"]


def test_rejects_empty_token_and_bad_size() -> None:
    with pytest.raises(ValueError):
        SignerCache(CountingFactory(), max_size=0)
    with pytest.raises(ValueError):
        SignerCache(CountingFactory()).get("", {})
