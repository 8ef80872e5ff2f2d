"""The test client: connect to an oci-mcp server with OAuth, list tools, call tools.

Sign-in is FastMCP's client OAuth: the system browser by default, the printed URL with
``no_browser``, or the headless sandbox sign-in with a username/password. Tokens are cached
encrypted per (server URL, user), so a second run needs no sign-in.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oci_mcp_cli.core.errors import OciMcpError, RemoteError

DEFAULT_CALLS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("whoami", {}),
    ("get_namespace", {}),
    ("list_compartments", {}),
)


@dataclass
class ClientOptions:
    """What to connect to, how to sign in, and which tools to call (None = the default set)."""

    url: str
    username: str | None = None
    password: str | None = None
    no_browser: bool = False
    relogin: bool = False
    calls: list[tuple[str, dict[str, Any]]] | None = None
    cache_root: Path | None = None  # default: $OCI_MCP_DATA_DIR or the user data dir
    # what a user refused by the app's access control reads (core/access.py refusal_message)
    not_granted: str | None = None


@dataclass
class ClientReport:
    """Tool names, per-tool results, per-tool errors."""

    tools: list[str] = field(default_factory=list)
    calls: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_json(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"tools": self.tools, "calls": self.calls}
        if self.errors:
            payload["errors"] = self.errors
        return payload


@dataclass(frozen=True)
class HttpFailure:
    """An HTTP error answer seen by the client: status, reason phrase, request URL."""

    status: int
    reason: str
    url: str


@functools.cache
def traced_oauth_class() -> type:
    """FastMCP's ``OAuth`` that remembers whether the server rejected a token it had just issued.

    The SDK answers every ``401`` with a full sign-in and one retry; when the retry is refused
    again (``401 invalid_token``), signing in worked but the server cannot verify the identity
    domain's tokens — ``rejected`` lets the caller say so instead of a bare "error response".
    ``http_failure`` is the last HTTP error answer (status, reason, URL), cleared by a success:
    the MCP transport turns any non-2xx into a bare JSON-RPC "Server returned an error response",
    and this is where the status survives (e.g. a load balancer's 503).
    """
    from contextlib import aclosing

    from fastmcp.client.auth import OAuth

    class TracedOAuth(OAuth):
        rejected = False
        http_failure: HttpFailure | None = None

        async def async_auth_flow(self, request: Any) -> Any:
            # aclosing: when the request fails (e.g. no server), the inner flow must be closed
            # in this task; left to the garbage collector it releases its lock from another
            # task and asyncio prints "Task exception was never retrieved".
            async with aclosing(super().async_auth_flow(request)) as flow:
                outgoing = await flow.__anext__()
                while True:
                    response = yield outgoing
                    try:
                        outgoing = await flow.asend(response)
                    except StopAsyncIteration:
                        break
            challenge = response.headers.get("www-authenticate", "")
            self.rejected = response.status_code == 401 and "invalid_token" in challenge
            self.http_failure = (
                HttpFailure(response.status_code, response.reason_phrase, str(response.url))
                if response.status_code >= 400
                else None
            )

    return TracedOAuth


def make_oauth(options: ClientOptions) -> Any:
    """The OAuth provider for ``options`` with the encrypted per-user token cache."""
    from oci_mcp_cli.client.cache import token_store

    base = traced_oauth_class()
    # --relogin signs in into an empty staging store: the cached login is replaced only after
    # the new sign-in worked (run_session commits or discards it).
    store = token_store(options.url, options.username, options.cache_root, staged=options.relogin)
    kwargs: dict[str, Any] = {
        "client_name": "oci-mcp test-client",
        "token_storage": store,
        "callback_host": "127.0.0.1",
    }
    if options.username:
        from oci_mcp_cli.client.headless import headless_oauth

        return headless_oauth(
            options.username,
            options.password or "",
            base=base,
            not_granted=options.not_granted,
            **kwargs,
        )
    if options.no_browser:

        class PrintingOAuth(base):  # type: ignore[misc,valid-type]
            async def redirect_handler(self, authorization_url: str) -> None:
                print(f"Open this URL to sign in:\n{authorization_url}", file=sys.stderr)

        return PrintingOAuth(**kwargs)

    class BrowserOAuth(base):  # type: ignore[misc,valid-type]
        async def redirect_handler(self, authorization_url: str) -> None:
            print(
                "Sign in in your browser (if it did not open, visit this URL):\n"
                + authorization_url,
                file=sys.stderr,
            )
            await super().redirect_handler(authorization_url)

    return BrowserOAuth(**kwargs)


def make_client(options: ClientOptions, oauth: Any | None = None) -> Any:
    """A FastMCP ``Client`` (not yet connected) for ``options``; its HTTP clients (MCP and
    OAuth) share one TLS context (core/tlscontext.py)."""
    from fastmcp import Client
    from fastmcp.client.transports import SSETransport, StreamableHttpTransport
    from fastmcp.mcp_config import infer_transport_type_from_url

    from oci_mcp_cli.core.tlscontext import httpx2_verify

    # the transport FastMCP would infer from the URL (/sse → SSE), with the shared context
    kind = infer_transport_type_from_url(options.url)
    transport_cls = SSETransport if kind == "sse" else StreamableHttpTransport
    transport = transport_cls(options.url, verify=httpx2_verify())
    return Client(transport, auth=oauth or make_oauth(options), timeout=120)


def result_value(result: Any) -> Any:
    """The JSON value of a CallToolResult (structured content, unwrapped; else the text)."""
    structured = getattr(result, "structured_content", None)
    if isinstance(structured, dict):
        if set(structured) == {"result"}:
            return structured["result"]
        return structured
    texts = [getattr(block, "text", "") for block in getattr(result, "content", []) or []]
    return "\n".join(t for t in texts if t)


async def call_tool(client: Any, name: str, args: dict[str, Any]) -> tuple[bool, Any]:
    """Call one tool; (ok, value or error message)."""
    result = await client.call_tool(name, args, raise_on_error=False)
    value = result_value(result)
    if getattr(result, "is_error", False):
        return False, value if isinstance(value, str) else str(value)
    return True, value


async def run_session(options: ClientOptions) -> ClientReport:
    """Connect, list tools, call the requested tools; failures of single calls go to ``errors``."""
    from oci_mcp_cli.client.cache import commit_staged, discard_staged

    report = ClientReport()
    oauth = make_oauth(options)
    client = make_client(options, oauth)
    signed_in = False
    try:
        async with client:
            signed_in = True  # connected = signed in
            report.tools = [tool.name for tool in await client.list_tools()]
            calls = options.calls if options.calls is not None else list(DEFAULT_CALLS)
            for name, args in calls:
                if name not in report.tools:
                    report.errors[name] = f"the server has no tool {name!r}"
                    continue
                ok, value = await call_tool(client, name, args)
                if ok:
                    report.calls[name] = value
                else:
                    report.errors[name] = value
    except OciMcpError:
        raise
    except Exception as exc:
        if getattr(oauth, "rejected", False):
            raise _rejected_error(options.url) from None
        raise _connect_error(options.url, exc, getattr(oauth, "http_failure", None)) from None
    finally:
        if options.relogin:  # the new tokens replace the cached ones only after a sign-in
            done = commit_staged if signed_in else discard_staged
            done(options.url, options.username, options.cache_root)
    return report


def _rejected_error(url: str) -> OciMcpError:
    return RemoteError(
        f"signed in, but {url} rejected the new token (401 invalid_token): the server cannot "
        "verify the identity domain's tokens",
        hint="the usual cause is the domain's signing keys (JWKS) not being publicly readable "
        "('Configure client access'); run `oci-mcp doctor` and check the server log",
    )


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes/contexts, outermost first (first leaf of exception groups)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        if isinstance(current, BaseExceptionGroup) and current.exceptions:
            current = current.exceptions[0]
        else:
            current = current.__cause__ or current.__context__
    return seen


def _leaf(chain: list[BaseException]) -> BaseException:
    """The innermost exception of ``chain`` that is not an exception group (the cause a user
    can act on; "unhandled errors in a TaskGroup" names none)."""
    leaves = [c for c in chain if not isinstance(c, BaseExceptionGroup)]
    return leaves[-1] if leaves else chain[-1]


def _http_hint(status: int) -> str:
    """What to check for an MCP endpoint that answered ``status`` (chosen by status alone)."""
    if status in (502, 503, 504):
        return (
            "a load balancer or proxy in front of the MCP server has no healthy backend, or the "
            "server is overloaded: check that `oci-mcp serve` runs behind it and passes its "
            "health check (GET /health), then the load balancer's backend health and its log"
        )
    if status == 404:
        return "check --url: the MCP endpoint is the server's base URL + /mcp"
    if status >= 500:
        return "the MCP server failed: check its log (`oci-mcp serve` output)"
    return "check --url, and the access rules of the server and of any proxy in front of it"


def _connect_error(
    url: str, exc: BaseException, http_failure: HttpFailure | None = None
) -> OciMcpError:
    from oci_mcp_cli.core.redact import redact

    chain = _chain(exc)
    for cause in chain:  # our own clear error, raised inside the OAuth flow and wrapped
        if isinstance(cause, OciMcpError):
            return cause
    connect = [
        c
        for c in chain
        if ("Connect" in c.__class__.__name__ and not isinstance(c, RuntimeError))
        or isinstance(c, ConnectionError)
    ]
    if connect:
        why = connect[0]
        os_errors = [c for c in chain if isinstance(c, OSError)]
        detail = str(os_errors[-1] if os_errors else why) or why.__class__.__name__
        return RemoteError(
            f"cannot connect to the MCP server at {url}: {why.__class__.__name__}: "
            f"{redact(detail)[:200]}",
            hint="start it with `oci-mcp serve` (or check --url)",
        )
    if http_failure is not None:
        reason = f" {http_failure.reason}" if http_failure.reason else ""
        return RemoteError(
            f"MCP session with {url} failed: {redact(http_failure.url)} answered HTTP "
            f"{http_failure.status}{reason}",
            hint=_http_hint(http_failure.status),
            status=http_failure.status,
        )
    inner = _leaf(chain)
    detail = redact(str(inner))[:300]
    return RemoteError(f"MCP session with {url} failed: {inner.__class__.__name__}: {detail}")


def run_test_client(options: ClientOptions, *, verbose: bool = False) -> ClientReport:
    """Synchronous entry point for the CLI; library logs stay quiet unless ``verbose``."""
    import logging

    import anyio
    import fastmcp  # noqa: F401  (its import configures its loggers; quiet them afterwards)

    if not verbose:
        for name in ("mcp", "fastmcp", "httpx", "httpx2"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    return anyio.run(run_session, options)
