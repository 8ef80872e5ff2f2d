"""OCI SDK clients for the *signed-in user*: ``oci_client(ObjectStorageClient)`` in one line.

For tool authors::

    from oci.object_storage import ObjectStorageClient
    from oci_mcp_cli.server.clients import bulkhead, oci_client

    @mcp.tool
    @bulkhead                                  # optional: its own bounded pool (see below)
    def my_tool() -> str:
        return oci_client(ObjectStorageClient).get_namespace().data

The signer comes from the server's UPST cache (one token exchange per upstream token). This is
blocking: call it from a sync tool, or from an async one via ``anyio.to_thread.run_sync``.

Every tool call runs under a deadline (``serve --tool-timeout``) that bounds the exchange, the
retries and the OCI calls; clients from ``oci_client`` retry once-bounded (no retry inside a
retry) and have a circuit breaker per (user, service, operation, region) (``breakers.py``: one
user's failing operation never refuses another user's call or another operation).
``@bulkhead`` runs a sync tool in a pool of its own (``serve --oci-workers`` threads), so a
storm of slow calls to one tool cannot take the threads other tools need; the built-in tools
all run that way.

Clients are reused (:class:`ClientPool`): one per (signer, client class, region, thread), so a
user's calls keep their HTTP connections (on a real region: no TLS handshake per call). Per
thread because the SDK does not document its clients as thread-safe, and our retry strategy sets
``client.timeout`` per attempt (the deadline's remainder). Clients go with their signer: when it
leaves the signer cache or is revalidated, its clients are dropped.
"""

from __future__ import annotations

import contextvars
import functools
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from oci_mcp_cli.server.breakers import BreakerBoard, sdk_strategy
from oci_mcp_cli.server.config import DEFAULT_TOOL_TIMEOUT_S, ServerSettings
from oci_mcp_cli.server.pools import JobTimedOut, LifoPool, call_in
from oci_mcp_cli.server.signers import (
    SignerCache,
    deadline_scope,
    release_logger,
    remaining,
)
from oci_mcp_cli.server.telemetry import Telemetry

C = TypeVar("C")

DEFAULT_MAX_CLIENTS = 256
USER_CHECK_TIMEOUT_S = 5.0  # the userinfo check after a refused exchange (server/errors.py)
_RUNTIMES: weakref.WeakKeyDictionary[Any, Runtime] = weakref.WeakKeyDictionary()
_CALL_CLIENTS: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar(
    "oci_mcp_call_clients", default=None
)


class ClientPool:
    """OCI SDK clients per (signer, client class, region, thread), LRU-bounded.

    A client is only ever used by the thread that built it (the SDK does not document clients as
    thread-safe; our retry strategy sets ``client.timeout`` per attempt), and only with the
    signer it was built for: :meth:`drop_signer` (wired to the signer cache) removes a signer's
    clients when it leaves the cache or is revalidated. A dropped or evicted client may still be
    finishing a call in its thread, so it is not closed here: its connections close when it is
    garbage-collected; :meth:`close` (server shutdown) closes everything. The SDK's per-client
    logger is taken out of the logging registry when the client is built (nothing looks it up
    by name), so cached clients never grow the registry.
    """

    def __init__(self, max_size: int = DEFAULT_MAX_CLIENTS) -> None:
        self.max_size = max(1, max_size)
        self.built = 0
        self._lock = threading.Lock()
        self._clients: OrderedDict[tuple[int, type, str, int], tuple[Any, Any]] = OrderedDict()

    def __len__(self) -> int:
        with self._lock:
            return len(self._clients)

    def get(self, signer: Any, client_cls: type, region: str, build: Callable[[], Any]) -> Any:
        key = (id(signer), client_cls, region, threading.get_ident())
        with self._lock:
            found = self._clients.get(key)
            if found is not None and found[0] is signer:
                self._clients.move_to_end(key)
                return found[1]
        client = build()
        release_logger(getattr(getattr(client, "base_client", client), "logger", None),
                       keep_handlers=True)
        with self._lock:
            self.built += 1
            self._clients[key] = (signer, client)
            while len(self._clients) > self.max_size:
                self._clients.popitem(last=False)
        return client

    def drop_signer(self, signer: Any) -> None:
        """Forget every client built on ``signer``."""
        with self._lock:
            for key in [k for k, (s, _) in self._clients.items() if s is signer]:
                del self._clients[key]

    def close(self) -> None:
        """Close every client's HTTP session (the server has stopped serving)."""
        with self._lock:
            clients = [client for _, client in self._clients.values()]
            self._clients.clear()
        for client in clients:
            release_client(client)


@dataclass
class Runtime:
    """Per-server state the tools need: settings, the signer cache, the OCI clients built on
    its signers, the per-tool pools, the circuit breakers, the telemetry hub."""

    settings: ServerSettings
    signers: SignerCache
    clients: ClientPool = field(default_factory=ClientPool)
    breakers: BreakerBoard = field(default_factory=BreakerBoard)
    telemetry: Telemetry = field(default_factory=Telemetry)
    _pools: dict[str, LifoPool] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def busy(self, name: str) -> int:
        """Calls of one tool running or queued in its pool (diagnostics and tests)."""
        with self._lock:
            pool = self._pools.get(name)
        return 0 if pool is None else pool.pending

    def pool(self, name: str) -> LifoPool:
        """The bounded thread pool of one tool (created on first use; ``server/pools.py``)."""
        with self._lock:
            pool = self._pools.get(name)
            if pool is None:
                pool = LifoPool(self.settings.oci_workers, thread_name_prefix=f"oci-{name}")
                self._pools[name] = pool
            return pool

    def breaker(self, client_cls: type, region: str, user: str) -> Any:
        """The SDK circuit breaker strategy of one user's client of one service and region:
        each operation it calls has its own breaker on this server's board."""
        return sdk_strategy(
            self.breakers,
            (user, client_cls.__name__, region),
            self.telemetry,
            (service_name(client_cls), region),
        )

    def close(self) -> None:
        """Stop the pools (running calls finish; they are bounded by their deadlines) and
        release every cached signer."""
        with self._lock:
            pools = list(self._pools.values())
            self._pools.clear()
        for pool in pools:
            pool.shutdown(cancel_futures=True)
        self.signers.clear()
        self.clients.close()


@dataclass(frozen=True)
class CurrentUser:
    """The upstream (identity domain) access token of the caller and its claims."""

    token: str
    claims: Mapping[str, Any]

    @property
    def name(self) -> str:
        return str(self.claims.get("sub") or self.claims.get("user_displayname") or "?")


def service_name(client_cls: type) -> str:
    """The OCI service of an SDK client class: its package (``oci.object_storage.…`` →
    ``object_storage``)."""
    parts = client_cls.__module__.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "oci" else client_cls.__name__


def attach_runtime(server: Any, runtime: Runtime) -> None:
    """Bind ``runtime`` to a FastMCP server instance (apply the settings' revalidation policy
    to its signer cache; its telemetry learns the signer cache and breaker board)."""
    runtime.signers.telemetry = runtime.telemetry
    runtime.telemetry.gauges.signers = runtime.signers
    runtime.telemetry.gauges.breakers = runtime.breakers
    runtime.signers.configure(
        revalidate_after=runtime.settings.revalidate_after,
        outage_policy=runtime.settings.revalidation_outage,
    )
    runtime.signers.on_retire(runtime.clients.drop_signer)
    _RUNTIMES[server] = runtime


def runtime_of(server: Any) -> Runtime:
    """The runtime attached to a FastMCP server instance."""
    return _RUNTIMES[server]


def current_runtime() -> Runtime:
    """The runtime of the server handling the current request."""
    from fastmcp.server.dependencies import get_server

    runtime = _RUNTIMES.get(get_server())
    if runtime is None:
        if len(_RUNTIMES) == 1:  # a mounted/child server: the one oci-mcp runtime of this process
            return next(iter(_RUNTIMES.values()))
        raise RuntimeError("this FastMCP server was not built with oci_mcp_cli.server.build_server")
    return runtime


def current_user() -> CurrentUser:
    """The caller's upstream token; ToolError when the request carries none."""
    from fastmcp.server.dependencies import get_access_token

    from oci_mcp_cli.server.errors import tool_error

    access = get_access_token()
    if access is None or not access.token:
        raise tool_error("not signed in: this tool needs an OCI IAM sign-in", outcome="refused")
    return CurrentUser(token=access.token, claims=dict(access.claims or {}))


def user_signer() -> Any:
    """The cached UPST signer of the current user (exchanges the token on first use, and again
    to revalidate it when due). Blocking; bounded by the current call's deadline."""
    from oci_mcp_cli.server.errors import exchange_error, user_token_refused

    user = current_user()
    runtime = current_runtime()
    try:
        return runtime.signers.get(user.token, user.claims)
    except Exception as exc:
        left = remaining()
        timeout = USER_CHECK_TIMEOUT_S if left is None else min(USER_CHECK_TIMEOUT_S, left)
        domain = runtime.settings.domain_url
        check = (lambda: user_token_refused(domain, user.token, timeout)) if timeout > 0 else None
        raise exchange_error(exc, check, not_granted=runtime.settings.not_granted) from None


def oci_client(client_cls: type[C], region: str | None = None) -> C:
    """An OCI SDK client acting as the current user (region defaults to ``OCI_REGION``).

    Its retries are bounded once and by the call's deadline; each operation it calls has a
    circuit breaker of this user and region. It is this thread's client for (the user's
    signer, ``client_cls``, region): reused by the next call, dropped with the signer
    (:class:`ClientPool`).
    """
    from oci_mcp_cli.core.ociconfig import DeadlineRetryStrategy, OciAuth
    from oci_mcp_cli.core.ociconfig import oci_client as build

    runtime = current_runtime()
    settings = runtime.settings
    signer = user_signer()
    chosen_region = region or settings.region or "us-ashburn-1"

    def new_client() -> Any:
        claims = _upst_claims(signer)
        user = str(claims.get("sub") or f"signer-{id(signer)}")
        auth = OciAuth(
            config={"region": chosen_region, "tenancy": claims.get("tenant", "")},
            signer=signer,
            service_endpoint=settings.service_endpoint,
            mode="upst",
        )
        return build(
            client_cls,
            auth,
            retry=DeadlineRetryStrategy(remaining),
            breaker=runtime.breaker(client_cls, chosen_region, user),
        )

    return runtime.clients.get(signer, client_cls, chosen_region, new_client)


def _upst_claims(signer: Any) -> dict[str, Any]:
    container = getattr(signer, "security_token_container", None)
    if container is None:
        return {}
    try:
        return dict(container.get_jwt())
    except Exception:
        return {}


def upst_claims() -> dict[str, Any]:
    """Claims of the current user's UPST (``sub`` = user OCID, ``tenant`` = tenancy OCID)."""
    return _upst_claims(user_signer())


# --- per-call scope: deadline, client release, bulkhead --------------------------------------


def release_client(client: Any) -> None:
    """Close an SDK client's HTTP session and drop its per-instance logger."""
    base = getattr(client, "base_client", client)
    try:
        session = getattr(base, "session", None)
        if session is not None:
            session.close()
    finally:
        release_logger(getattr(base, "logger", None))


@contextmanager
def call_scope(timeout: float | None = None) -> Iterator[float]:
    """One tool call: a deadline (``timeout`` or ``--tool-timeout`` from now, an outer one is
    kept); clients registered in ``_CALL_CLIENTS`` inside are released at the end (clients
    from ``oci_client`` are not: they are reused, and go with their signer)."""
    if timeout is None:
        try:
            timeout = current_runtime().settings.tool_timeout
        except Exception:  # not inside a request of an oci-mcp server
            timeout = DEFAULT_TOOL_TIMEOUT_S
    clients: list[Any] = []
    token = _CALL_CLIENTS.set(clients)
    try:
        with deadline_scope(timeout) as deadline:
            yield deadline
    finally:
        _CALL_CLIENTS.reset(token)
        for client in clients:
            release_client(client)


def timeout_error(tool: str, timeout: float) -> Exception:
    """The ToolError of a call that hit its deadline."""
    from oci_mcp_cli.server.errors import tool_error

    return tool_error(
        f"{tool} did not finish within the {timeout:g}s tool timeout: OCI or the identity "
        "domain is slow or failing right now; try again later",
        warning=True,
        outcome="deadline",
    )


def _in_worker(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    from oci_mcp_cli.core.ociconfig import DeadlineExceeded

    left = remaining()
    if left is not None and left <= 0:  # queued past the deadline: the caller is gone
        raise DeadlineExceeded("the tool call's deadline passed while it waited for a worker")
    with call_scope(left):  # the same deadline; clients are released when the work ends
        return fn(*args, **kwargs)


async def run_bounded(name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run blocking ``fn`` in the bounded pool ``name`` under the call's deadline; the await
    ends at the deadline with a ToolError even if the work is stuck (the work itself stops at
    its next bounded step: every HTTP timeout and retry is capped by the same deadline)."""
    from oci_mcp_cli.core.ociconfig import DeadlineExceeded

    runtime = current_runtime()
    timeout = runtime.settings.tool_timeout
    with deadline_scope(timeout) as deadline:
        context = contextvars.copy_context()
        pool, left = runtime.pool(name), max(0.0, deadline - time.monotonic())
        try:
            return await call_in(pool, left, context.run, _in_worker, fn, args, kwargs)
        except (JobTimedOut, DeadlineExceeded):  # the wait or the work's own steps
            raise timeout_error(name, timeout) from None


def bulkhead(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a sync tool into an async one that runs in its own bounded pool (same signature)."""

    @functools.wraps(fn)
    async def tool(*args: Any, **kwargs: Any) -> Any:
        return await run_bounded(fn.__name__, fn, *args, **kwargs)

    return tool
