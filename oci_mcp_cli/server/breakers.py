"""Circuit breakers of per-user OCI calls: one per (user, service, operation, region).

Why that key: a 5xx or a timeout answers *one user's* call of *one operation* — OCI authorizes,
routes and throttles per principal and per API, so alice's failing ``ListCompartments`` says
nothing about bob's, nor about alice's ``ListRegionSubscriptions``. A breaker shared wider
(per service and region, as before) let one user's outage refuse everyone's calls. With this
key a failing operation of one user never refuses another user's call or another operation;
what bounds the server's total concurrency is the bulkhead (``--oci-workers`` per tool), not
the breaker.

Counting: 5xx answers, timeouts and connection errors are failures; any other answer (2xx, and
every 4xx including 429 — per-user answers, the service is up) closes the breaker and forgets
the streak. After :data:`FAILURE_THRESHOLD` consecutive failures the breaker opens: calls fail
fast with :class:`BreakerOpen` (no request sent) for :data:`RECOVERY_TIMEOUT_S`, then one probe
at a time is let through; its answer closes or re-opens it.

The board keeps only breakers with a failure streak (a success removes its entry) and at most
``max_size`` of them (LRU): an evicted breaker forgets its streak, so eviction can only let a
call through, never refuse one.

The SDK hook: :func:`sdk_strategy` is a real ``oci.circuit_breaker.CircuitBreakerStrategy``
whose ``get_circuit_breaker()`` wraps the client's ``request`` (the SDK passes it the
operation name). It never registers in ``circuitbreaker.CircuitBreakerMonitor`` (a global
registry nothing prunes) and reports no error as "transient", so the SDK raises its plain
``ServiceError``s and never consults that registry.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from circuitbreaker import CircuitBreakerError

from oci_mcp_cli.server.telemetry import DISABLED, Telemetry

FAILURE_THRESHOLD = 5
RECOVERY_TIMEOUT_S = 30.0
DEFAULT_MAX_BREAKERS = 1024

BreakerKey = tuple[Hashable, ...]


@dataclass
class _Streak:
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False
    last_failure: str = ""


@dataclass(frozen=True)
class BreakerView:
    """What :class:`BreakerOpen` tells about its breaker (``errors.oci_error`` reads
    ``open_remaining``)."""

    name: str
    failure_count: int
    open_remaining: int
    last_failure: str


class BreakerOpen(CircuitBreakerError):
    """The call was refused without being sent: its breaker is open (or probing)."""

    def __init__(self, view: BreakerView) -> None:
        super().__init__(view)

    def __str__(self) -> str:
        view: BreakerView = self._circuit_breaker
        return (
            f"circuit {view.name} open ({view.failure_count} consecutive failures, about "
            f"{view.open_remaining}s left; last: {view.last_failure})"
        )


def is_failure(exc: BaseException) -> bool | None:
    """True for a 5xx, timeout or connection error (the SDK's ``RequestException`` and
    ``ConnectTimeout`` wrap both); False for any other answer of the service (4xx, 429);
    None when nothing was learnt about the service (e.g. a signing error before sending)."""
    from oci.exceptions import ConnectTimeout, RequestException, ServiceError

    if isinstance(exc, ServiceError):
        return exc.status >= 500
    if isinstance(exc, RequestException | ConnectTimeout):
        return True
    return None


class BreakerBoard:
    """Thread-safe, bounded set of breakers keyed by :data:`BreakerKey`."""

    def __init__(
        self,
        *,
        failure_threshold: int = FAILURE_THRESHOLD,
        recovery_timeout: float = RECOVERY_TIMEOUT_S,
        max_size: int = DEFAULT_MAX_BREAKERS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = max(1, failure_threshold)
        self.recovery_timeout = recovery_timeout
        self.max_size = max(1, max_size)
        self._clock = clock
        self._lock = threading.Lock()
        self._streaks: OrderedDict[BreakerKey, _Streak] = OrderedDict()

    def __len__(self) -> int:
        with self._lock:
            return len(self._streaks)

    def open_keys(self) -> list[BreakerKey]:
        """Keys whose breaker refuses calls right now (diagnostics and tests)."""
        with self._lock:
            return [k for k, s in self._streaks.items() if s.opened_at is not None]

    def admit(self, key: BreakerKey) -> None:
        """Let a call through, or raise :class:`BreakerOpen`. Every admitted call must be
        followed by :meth:`settle` with the same key."""
        with self._lock:
            streak = self._streaks.get(key)
            if streak is None or streak.opened_at is None:
                return
            self._streaks.move_to_end(key)
            left = streak.opened_at + self.recovery_timeout - self._clock()
            if left <= 0 and not streak.probing:
                streak.probing = True  # the one probe of a half-open breaker
                return
            view = BreakerView(
                name=":".join(str(part) for part in key[1:]),  # no user id in messages
                failure_count=streak.failures,
                open_remaining=max(0, math.ceil(left)),
                last_failure=streak.last_failure,
            )
        raise BreakerOpen(view)

    def settle(self, key: BreakerKey, failed: bool | None, cause: str = "") -> None:
        """Record an admitted call's outcome: ``failed`` True (5xx, timeout, connection
        error), False (the service answered), None (nothing learnt: a probe may go again)."""
        with self._lock:
            streak = self._streaks.get(key)
            if failed is False:
                self._streaks.pop(key, None)
                return
            if failed is None:
                if streak is not None:
                    streak.probing = False
                return
            if streak is None:
                streak = self._streaks[key] = _Streak()
            self._streaks.move_to_end(key)
            streak.failures += 1
            streak.last_failure = cause
            streak.probing = False
            if streak.failures >= self.failure_threshold:
                streak.opened_at = self._clock()  # (re)open: a failed probe waits again
            while len(self._streaks) > self.max_size:
                self._streaks.popitem(last=False)

    def guard(
        self,
        scope: BreakerKey,
        request: Callable[..., Any],
        telemetry: Telemetry | None = None,
        labels: tuple[str, str] = ("?", "?"),
    ) -> Callable[..., Any]:
        """Wrap an SDK client's ``request(request, allow_control_chars, operation_name,
        api_reference_link)``: each call is admitted and settled under ``(*scope,
        operation_name)``, and each sent request reported to ``telemetry`` with ``labels``
        ``(service, region)``."""
        hub = telemetry or DISABLED
        service, region = labels

        def guarded(
            call: Any,
            allow_control_chars: Any = None,
            operation_name: str | None = None,
            api_reference_link: str | None = None,
        ) -> Any:
            key = (*scope, operation_name or "?")
            self.admit(key)
            sent_id = (getattr(call, "header_params", None) or {}).get("opc-request-id")
            with hub.oci_request(service, operation_name or "?", region, sent_id) as record:
                try:
                    response = request(
                        call, allow_control_chars, operation_name, api_reference_link
                    )
                except BaseException as exc:
                    failed = is_failure(exc)
                    self.settle(key, failed, _cause(exc) if failed else "")
                    raise
                self.settle(key, False)
                record.answered(response)
            return response

        return guarded


def _cause(exc: BaseException) -> str:
    status = getattr(exc, "status", None)
    return f"HTTP {status}" if isinstance(status, int) else type(exc).__name__


_STRATEGY_CLASS: Any = None
_CLASS_LOCK = threading.Lock()


def sdk_strategy(
    board: BreakerBoard,
    scope: BreakerKey,
    telemetry: Telemetry | None = None,
    labels: tuple[str, str] = ("?", "?"),
) -> Any:
    """A ``CircuitBreakerStrategy`` for one SDK client: its calls are guarded by ``board``
    under ``(*scope, operation_name)`` and reported to ``telemetry`` as requests of ``labels``
    ``(service, region)`` (the class is built on first use: no ``oci`` import at module
    level)."""
    global _STRATEGY_CLASS
    with _CLASS_LOCK:
        if _STRATEGY_CLASS is None:
            from oci.circuit_breaker import CircuitBreakerStrategy

            class BoardStrategy(CircuitBreakerStrategy):
                def __init__(
                    self,
                    board: BreakerBoard,
                    scope: BreakerKey,
                    telemetry: Telemetry | None,
                    labels: tuple[str, str],
                ) -> None:
                    super().__init__(
                        failure_threshold=board.failure_threshold,
                        recovery_timeout=board.recovery_timeout,
                    )
                    self.board, self.scope = board, scope
                    self.telemetry, self.labels = telemetry, labels

                def get_circuit_breaker(self) -> Any:
                    return lambda request: self.board.guard(
                        self.scope, request, self.telemetry, self.labels
                    )

                def is_transient_error(self, status_code: Any, service_code: Any) -> bool:
                    return False  # the board classifies; the SDK raises plain ServiceErrors

            _STRATEGY_CLASS = BoardStrategy
    return _STRATEGY_CLASS(board, scope, telemetry, labels)
