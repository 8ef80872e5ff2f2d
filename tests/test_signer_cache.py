"""Unit tests of the UPST signer cache.

A fake signer factory is used here (instead of the real TokenExchangeSigner) to count constructions
deterministically and to control timing; the e2e tests exercise the real signer against the sandbox.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from oci_mcp_cli.core.ociconfig import DeadlineExceeded
from oci_mcp_cli.server.signers import (
    RevalidationUnavailable,
    SignerCache,
    SignerRefused,
    bounded_signer_class,
    cache_key,
    deadline_scope,
    release_logger,
)


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


# --- deadlines, revalidation, release (issue 9) ---------------------------------------------


class Refused(Exception):
    """Shaped like the SDK's HTTPError: a ``response`` with a 4xx status."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.response = type("R", (), {"status_code": status})()


def test_waiters_give_up_at_their_deadline_while_the_exchange_hangs() -> None:
    gate = threading.Event()
    cache = SignerCache(CountingFactory(gate))
    with ThreadPoolExecutor(max_workers=2) as pool:
        owner = pool.submit(cache.get, "ta", claims("alice", "ja"))
        while not cache._inflight:  # the owner's exchange is in flight
            threading.Event().wait(0.01)
        with pytest.raises(DeadlineExceeded):
            cache.get("ta", claims("alice", "ja"), deadline=time.monotonic() + 0.05)
        gate.set()
        assert owner.result(timeout=10) is not None


def test_revalidation_runs_when_due_once_under_concurrency() -> None:
    now = [1000.0]
    gate = threading.Event()
    checks: list[object] = []

    def revalidate(signer: object) -> None:
        checks.append(signer)
        assert gate.wait(10)

    cache = SignerCache(
        CountingFactory(), clock=lambda: now[0], revalidate_after=300, revalidator=revalidate
    )
    signer = cache.get("ta", claims("alice", "ja"))
    now[0] += 299
    assert cache.get("ta", claims("alice", "ja")) is signer and checks == []
    now[0] += 1
    with ThreadPoolExecutor(max_workers=20) as pool:
        futures = [pool.submit(cache.get, "ta", claims("alice", "ja")) for _ in range(20)]
        gate.set()
        assert all(f.result(timeout=10) is signer for f in futures)
    assert checks == [signer]
    assert cache.get("ta", claims("alice", "ja")) is signer and len(checks) == 1


def test_zero_revalidates_every_call() -> None:
    checks: list[object] = []
    cache = SignerCache(CountingFactory(), revalidate_after=0, revalidator=checks.append)
    for _ in range(3):
        cache.get("ta", claims("alice", "ja"))
    assert len(checks) == 2  # the first call's exchange is itself the check


def test_refused_revalidation_drops_and_releases_the_signer() -> None:
    released: list[object] = []

    def refuse(signer: object) -> None:
        raise Refused(400)

    factory = CountingFactory()
    cache = SignerCache(factory, revalidate_after=0, revalidator=refuse, release=released.append)
    first = cache.get("ta", claims("alice", "ja"))  # a miss builds; no revalidation yet
    with pytest.raises(SignerRefused):
        cache.get("ta", claims("alice", "ja"))
    assert released == [first] and len(cache) == 0
    assert cache.get("ta", claims("alice", "ja")) is not first  # rebuilt (the exchange decides)
    assert len(factory.calls) == 2


@pytest.mark.parametrize("outage", [Refused(503), Refused(429), ConnectionError("down")])
def test_outage_during_revalidation_fails_closed_and_keeps_the_entry(outage: Exception) -> None:
    fail = [True]

    def revalidate(signer: object) -> None:
        if fail[0]:
            raise outage

    cache = SignerCache(CountingFactory(), revalidate_after=0, revalidator=revalidate)
    signer = cache.get("ta", claims("alice", "ja"))
    with pytest.raises(RevalidationUnavailable):
        cache.get("ta", claims("alice", "ja"))
    assert len(cache) == 1
    fail[0] = False
    assert cache.get("ta", claims("alice", "ja")) is signer


def test_outage_fail_open_keeps_using_the_signer() -> None:
    def down(signer: object) -> None:
        raise ConnectionError("down")

    cache = SignerCache(
        CountingFactory(), revalidate_after=0, revalidator=down, outage_policy="open"
    )
    signer = cache.get("ta", claims("alice", "ja"))
    assert cache.get("ta", claims("alice", "ja")) is signer


def test_evicted_and_expired_signers_are_released() -> None:
    now = [1000.0]
    released: list[object] = []
    cache = SignerCache(CountingFactory(), max_size=1, clock=lambda: now[0],
                        release=released.append)
    first = cache.get("t1", claims("u", "1", exp=5000))
    second = cache.get("t2", claims("u", "2", exp=1060))  # evicts t1 (LRU)
    assert released == [first]
    now[0] = 1061
    cache.get("t3", claims("u", "3", exp=5000))  # t2 expired
    assert released == [first, second]
    cache.clear()
    assert len(released) == 3 and len(cache) == 0


def _signer_loggers() -> set[str]:
    prefix = "oci.auth.signers.token_exchange_signer."
    return {n for n in logging.Logger.manager.loggerDict if n.startswith(prefix)}


def test_real_signer_exchange_has_a_timeout_and_a_failed_one_leaks_no_logger() -> None:
    """A domain that accepts the connection and never answers: the SDK's signer would wait
    forever; ours ends at its read timeout (and earlier at the call's deadline), and the logger
    the SDK registered for the failed signer is gone."""
    cls = bounded_signer_class()
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        before = _signer_loggers()
        errors: list[BaseException] = []

        def exchange(deadline_s: float | None) -> None:
            try:
                if deadline_s is None:
                    cls("jwt", url, "id", "secret", timeout=(1.0, 0.3))
                else:
                    with deadline_scope(deadline_s):
                        cls("jwt", url, "id", "secret", timeout=(30.0, 30.0))
            except BaseException as exc:  # noqa: BLE001  (recorded for the assertion)
                errors.append(exc)

        for deadline_s in (None, 0.3):
            worker = threading.Thread(target=exchange, args=(deadline_s,), daemon=True)
            worker.start()
            worker.join(timeout=20)
            assert not worker.is_alive(), "the exchange did not time out"
        assert len(errors) == 2
        assert all("Timeout" in e.__class__.__name__ for e in errors), errors
        assert _signer_loggers() == before


def test_release_logger_removes_the_sdk_instance_logger() -> None:
    name = "oci.auth.signers.token_exchange_signer.test-instance"
    logger = logging.getLogger(name)
    assert name in logging.Logger.manager.loggerDict
    release_logger(logger)
    assert name not in logging.Logger.manager.loggerDict


def test_a_waiter_with_time_left_retries_when_the_owner_ran_out_of_time() -> None:
    gate = threading.Event()
    attempts: list[str] = []

    def factory(token: str) -> object:
        attempts.append(token)
        if len(attempts) == 1:
            assert gate.wait(10)
            raise TimeoutError("the owner's deadline passed")
        return object()

    cache = SignerCache(factory)
    with ThreadPoolExecutor(max_workers=2) as pool:
        owner = pool.submit(cache.get, "ta", claims("alice", "ja"))
        while not cache._inflight:
            threading.Event().wait(0.01)
        waiter = pool.submit(cache.get, "ta", claims("alice", "ja"))
        gate.set()
        with pytest.raises(TimeoutError):
            owner.result(timeout=10)
        assert waiter.result(timeout=10) is not None
    assert len(attempts) == 2


def _http_error(status: int) -> Exception:
    from oci._vendor import requests

    response = requests.Response()
    response.status_code = status
    return requests.exceptions.HTTPError(f"HTTP {status}", response=response)


@pytest.mark.parametrize(
    ("failure", "calls"),
    [
        (_http_error(503), 2),
        (_http_error(500), 2),
        ("connection", 2),
        (_http_error(429), 1),  # the domain asks us to slow down
        (_http_error(400), 1),  # a refusal: asking again gets the same answer
        (_http_error(401), 1),
        ("timeout", 1),  # a timeout already spent its time
    ],
)
def test_exchange_is_retried_once_only_after_a_transient_failure(
    failure: object, calls: int
) -> None:
    from oci._vendor import requests

    from oci_mcp_cli.server.signers import retry_transient_once

    error = {
        "connection": requests.exceptions.ConnectionError("refused"),
        "timeout": requests.exceptions.ReadTimeout("read timed out"),
    }.get(failure, failure)  # type: ignore[call-overload]
    seen: list[int] = []

    def exchange() -> str:
        seen.append(1)
        raise error

    with pytest.raises(type(error)):
        retry_transient_once(exchange)
    assert len(seen) == calls

    def blip() -> str:  # fails once, then answers
        seen.append(1)
        if len(seen) == 1:
            raise error
        return "upst"

    seen.clear()
    if calls == 2:
        assert retry_transient_once(blip) == "upst" and len(seen) == 2


def test_exchange_retry_never_outlives_the_deadline() -> None:
    """With less time left than the pause before the retry, the first failure is final."""
    from oci_mcp_cli.server.signers import EXCHANGE_RETRY_PAUSE_S, retry_transient_once

    seen: list[int] = []

    def exchange() -> str:
        seen.append(1)
        raise _http_error(503)

    with deadline_scope(EXCHANGE_RETRY_PAUSE_S / 2), pytest.raises(Exception, match="503"):
        retry_transient_once(exchange)
    assert len(seen) == 1
