"""The circuit-breaker board's rules (server/breakers.py), with the SDK's real exception types.

The end-to-end proof (two users, the real server, the sandbox's fault hook) is
tests/test_chaos_breaker.py; these cover what the sandbox cannot stage in a bounded time: the
recovery period (a fake clock instead of 30 s of waiting), timeouts and the store's bound.
"""

from __future__ import annotations

from typing import Any

import oci
import pytest
from oci._vendor import requests

from oci_mcp_cli.server.breakers import BreakerBoard, BreakerOpen, sdk_strategy
from oci_mcp_cli.server.errors import oci_error

ALICE = ("ocid1.user.oc1..alice", "IdentityClient", "us-ashburn-1")
BOB = ("ocid1.user.oc1..bob", "IdentityClient", "us-ashburn-1")
OP = "list_compartments"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def service_error(status: int) -> Exception:
    return oci.exceptions.ServiceError(status, "Code", {}, f"HTTP {status}")


def timeout() -> Exception:
    return oci.exceptions.RequestException(requests.exceptions.ReadTimeout("read timed out"))


def _pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def call(board: BreakerBoard, scope: tuple[str, ...], outcome: Exception | None,
         operation: str = OP) -> str:
    """One request through ``board.guard``: 'ok', 'failed' or 'refused'."""
    sent: list[bool] = []

    def request(*args: Any) -> str:
        sent.append(True)
        if outcome is not None:
            raise outcome
        return "response"

    try:
        board.guard(scope, request)(object(), None, operation, None)
    except BreakerOpen:
        assert not sent, "a refused call must not be sent"
        return "refused"
    except Exception:
        return "failed"
    return "ok"


def test_5xx_timeouts_and_connection_errors_open_it_4xx_never_counts() -> None:
    board = BreakerBoard()
    for status in (400, 401, 404, 409, 429) * 4:
        assert call(board, ALICE, service_error(status)) == "failed"
    assert call(board, ALICE, None) == "ok" and len(board) == 0
    for _ in range(4):
        call(board, ALICE, service_error(503))
    call(board, ALICE, service_error(404))  # the service answered: the streak is forgotten
    for _ in range(4):
        call(board, ALICE, timeout())
    assert call(board, ALICE, None) == "ok"
    connection = oci.exceptions.RequestException(requests.exceptions.ConnectionError("refused"))
    for outcome in (service_error(500), service_error(502), timeout(), connection,
                    service_error(504)):
        assert call(board, ALICE, outcome) == "failed"
    assert call(board, ALICE, None) == "refused"


def test_an_open_breaker_refuses_only_its_user_operation_and_region() -> None:
    board = BreakerBoard()
    for _ in range(5):
        call(board, ALICE, service_error(503))
    assert call(board, ALICE, None) == "refused"
    assert call(board, BOB, None) == "ok"
    assert call(board, ALICE, None, operation="list_region_subscriptions") == "ok"
    assert call(board, (ALICE[0], ALICE[1], "us-phoenix-1"), None) == "ok"
    assert call(board, (ALICE[0], "ObjectStorageClient", ALICE[2]), None, "get_namespace") == "ok"


def test_after_the_recovery_period_one_probe_at_a_time_decides() -> None:
    clock = Clock()
    board = BreakerBoard(recovery_timeout=30, clock=clock)
    key = (*ALICE, OP)
    for _ in range(5):
        call(board, ALICE, service_error(503))
    clock.now += 29.5
    assert call(board, ALICE, None) == "refused"
    clock.now += 1
    board.admit(key)  # the probe is in flight…
    with pytest.raises(BreakerOpen):
        board.admit(key)  # …so every other call is refused
    board.settle(key, True, "HTTP 503")  # the probe failed: open for a full period again
    clock.now += 29.5
    assert call(board, ALICE, None) == "refused"
    clock.now += 1
    assert call(board, ALICE, None) == "ok"  # the probe succeeded: closed, entry gone
    assert call(board, ALICE, None) == "ok" and len(board) == 0


def test_a_probe_that_learnt_nothing_lets_the_next_call_probe() -> None:
    clock = Clock()
    board = BreakerBoard(recovery_timeout=30, clock=clock)
    for _ in range(5):
        call(board, ALICE, service_error(503))
    clock.now += 31
    assert call(board, ALICE, ValueError("signing failed before sending")) == "failed"
    assert call(board, ALICE, None) == "ok"


def test_the_board_is_bounded_and_keeps_only_failure_streaks() -> None:
    board = BreakerBoard(max_size=8)
    for n in range(100):
        call(board, (f"user-{n}", "IdentityClient", "us-ashburn-1"), service_error(503))
        call(board, (f"user-{n}", "IdentityClient", "us-ashburn-1"), None, "list_regions")
    assert len(board) == 8  # the 8 most recent streaks; successes stored nothing


def test_the_refusal_names_the_operation_and_the_wait_never_the_user() -> None:
    board = BreakerBoard()
    for _ in range(5):
        call(board, ALICE, service_error(503))
    with pytest.raises(BreakerOpen) as refused:
        board.admit((*ALICE, OP))
    assert ALICE[0] not in str(refused.value)
    message = str(oci_error(refused.value, "ListCompartments"))
    assert message.startswith("OCI ListCompartments not attempted:"), message
    assert "for about 30s" in message and "circuit breaker open" in message


def test_the_sdk_strategy_guards_a_real_client_and_registers_nothing_globally() -> None:
    """The SDK wraps its client's ``request`` with what ``get_circuit_breaker()`` returns; the
    global ``CircuitBreakerMonitor`` (never pruned) gains no entry per user."""
    from circuitbreaker import CircuitBreakerMonitor
    from oci.identity import IdentityClient

    before = dict(CircuitBreakerMonitor.circuit_breakers)
    board = BreakerBoard()
    config = {  # a well-formed API-key profile: the client validates it, nothing is sent
        "region": "us-ashburn-1", "tenancy": "ocid1.tenancy.oc1..t",
        "user": "ocid1.user.oc1..aaaa", "key_file": "unused (the signer holds the key)",
        "fingerprint": "aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99",
    }
    signer = oci.signer.Signer("t", "u", "f", None, private_key_content=_pem())
    client = IdentityClient(config, signer=signer, service_endpoint="http://127.0.0.1:9",
                            circuit_breaker_strategy=sdk_strategy(board, ALICE),
                            retry_strategy=oci.retry.NoneRetryStrategy(), timeout=(0.5, 0.5))
    for _ in range(5):
        call(board, ALICE, service_error(503))
    with pytest.raises(BreakerOpen):
        client.list_compartments("ocid1.tenancy.oc1..t")  # refused before signing or sending
    assert dict(CircuitBreakerMonitor.circuit_breakers) == before


def test_a_breaker_opening_during_a_calls_retries_fails_it_with_its_last_answer() -> None:
    """Attempts 1 and 2 get a 503 and open a 2-failure breaker: the call fails with that 503
    (it was attempted), not with "not attempted"; the next call is refused unsent."""
    from oci_mcp_cli.core.ociconfig import DeadlineRetryStrategy

    board = BreakerBoard(failure_threshold=2)
    sent: list[bool] = []

    def request(*args: Any) -> str:
        sent.append(True)
        raise service_error(503)

    guarded = board.guard(ALICE, request)
    retry = DeadlineRetryStrategy(lambda: None, base_sleep_s=0)
    with pytest.raises(oci.exceptions.ServiceError) as failed:
        retry.make_retrying_call(guarded, object(), None, OP, None)
    assert failed.value.status == 503 and len(sent) == 2
    with pytest.raises(BreakerOpen):
        retry.make_retrying_call(guarded, object(), None, OP, None)
    assert len(sent) == 2
