"""Sandbox-only test hooks (no auth, never part of OCI) and the fault/log middleware.

Hooks: ``GET /_sandbox/health``, ``GET /_sandbox/info``, ``GET|DELETE /_sandbox/requests``,
``POST|DELETE /_sandbox/faults``, ``GET|POST /_sandbox/config``, ``POST /_sandbox/session-token``
(a UPST for a user, standing in for ``oci session authenticate``).
The middleware is pure ASGI: it never reads the request body, so handlers still get the raw bytes
they need for signature verification.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Any

from oci_mcp_cli.sandbox.context import Fault, SandboxConfig
from oci_mcp_cli.sandbox.wire import error_body_for_path, request_id

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from oci_mcp_cli.sandbox.context import SandboxContext

HOOK_PREFIX = "/_sandbox/"
MAX_LOG = 10_000
_FAULT_CODES = {
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
    401: "NotAuthenticated",
    404: "NotAuthorizedOrNotFound",
    409: "Conflict",
    400: "InvalidParameter",
}


def principal_fields(value: Any) -> dict[str, Any]:
    """Log form of ``request.state.principal``: a Principal, a plain string or None."""
    if value is None:
        return {"principal": None}
    if hasattr(value, "user_name"):
        return {"principal": value.user_name, "principal_ocid": value.ocid, "auth": value.kind}
    return {"principal": str(value)}


def _guid_of(path: str) -> str | None:
    first = path.split("/")[1] if path.count("/") > 1 else ""
    return first if first.startswith("idcs-") else None


def take_fault(ctx: SandboxContext, method: str, path: str) -> Fault | None:
    """The first fault matching ``method path``; its count is used up."""
    with ctx.lock:
        for fault in ctx.faults:
            method_ok = fault.method in ("*", method.upper())
            if fault.path.endswith("*"):
                path_ok = path.startswith(fault.path[:-1])
            else:
                path_ok = path.rstrip("/") == fault.path.rstrip("/")
            if method_ok and path_ok:
                fault.count -= 1
                if fault.count <= 0:
                    ctx.faults.remove(fault)
                return fault
    return None


class SandboxMiddleware:
    """Injects configured faults and records every non-hook request in ``ctx.request_log``."""

    def __init__(self, app: ASGIApp, ctx: SandboxContext):
        self.app, self.ctx = app, ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("scheme") == "https":
            await self._https(scope, receive, send)
            return
        await self._serve(scope, receive, send)

    async def _https(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The https front: route by ``Host`` (a real OCI hostname) instead of by port."""
        from oci_mcp_cli.sandbox.context import VIA_HTTPS
        from oci_mcp_cli.sandbox.hosts import FAMILY_PATH_PREFIXES

        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
        route = self.ctx.hosts.route(host) if self.ctx.hosts is not None else None
        path = scope["path"]
        refusal = None
        if route is None:
            refusal = (421, "MisdirectedRequest", f"the sandbox does not serve host {host!r}")
        elif route.family != "domain" and (
            path.startswith(HOOK_PREFIX)
            or not path.startswith(FAMILY_PATH_PREFIXES.get(route.family, ("/",)))
        ):
            refusal = (404, "NotAuthorizedOrNotFound", f"no {scope['method']} {path} on {host}")
        if refusal is not None:
            from starlette.responses import JSONResponse

            status, code, message = refusal
            body = {"code": code, "message": message}
            await JSONResponse(body, status_code=status)(scope, receive, send)
            return
        assert route is not None
        token = VIA_HTTPS.set(True)
        try:
            await self._serve(scope, receive, send, guid=route.guid, front="https")
        finally:
            VIA_HTTPS.reset(token)

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        *,
        guid: str | None = None,
        front: str = "http",
    ) -> None:
        if scope["type"] != "http" or (front == "http" and scope["path"].startswith(HOOK_PREFIX)):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        method, path = scope["method"], scope["path"]
        if front == "http":
            guid = self.ctx.guid_for_port((scope.get("server") or (None, None))[1])
        if guid is not None:  # a domain port or host: route as /<guid>/...; raw_path as sent
            scope = {**scope, "path": f"/{guid}{path}"}
        status: dict[str, Any] = {"code": 500, "request_id": None}

        async def record_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["request_id"] = next(
                    (v.decode("latin-1") for k, v in message.get("headers", [])
                     if k.lower() == b"opc-request-id"),
                    None,
                )
            await send(message)

        fault = take_fault(self.ctx, method, path) or (
            take_fault(self.ctx, method, scope["path"]) if guid else None
        )
        try:
            if fault and fault.delay_s > 0:
                await asyncio.sleep(fault.delay_s)
            if fault and fault.status:
                await self._fault_response(scope, fault)(scope, receive, record_send)
            else:
                await self.app(scope, receive, record_send)
        finally:
            entry = {
                "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
                "method": method,
                "path": path,
                "scheme": front,
                "domain": guid or _guid_of(path),
                "status": status["code"],
                "opc_request_id": status["request_id"],
                **principal_fields(state.get("principal")),
                "grant_type": state.get("grant_type"),
                "fault": bool(fault and fault.status),
            }
            with self.ctx.lock:
                self.ctx.request_log.append(entry)
                del self.ctx.request_log[:-MAX_LOG]

    @staticmethod
    def _fault_response(scope: Scope, fault: Fault) -> Response:
        from starlette.requests import Request
        from starlette.responses import JSONResponse

        code = _FAULT_CODES.get(fault.status, "InjectedFault")
        body = error_body_for_path(
            scope["path"],
            fault.status,
            code,
            f"fault injected by the sandbox (HTTP {fault.status})",
        )
        headers = {"opc-request-id": request_id(Request(scope))}
        if fault.status == 429:
            headers["Retry-After"] = "1"
        return JSONResponse(body, status_code=fault.status, headers=headers)


class UnknownSessionUser(LookupError):
    """No active user of that name: ``oci session authenticate`` could not sign in either."""


def mint_session_token(
    ctx: SandboxContext, username: str, session_key: RSAPublicKey, ttl_s: int = 3600
) -> str:
    """A UPST for ``username`` (any domain; case-insensitive) bound to ``session_key``, minted by
    the token exchange's own code (``oauth.tokens.mint_upst``) with a lifetime of
    ``min(ttl_s, 3600, the domain's iamUpstSessionExpiry)``; ``ttl_s <= 0`` gives an expired
    one."""
    from oci_mcp_cli.sandbox.oauth.tokens import DomainScope, mint_upst

    with ctx.store.read() as state:
        found = next(
            (
                (domain, user)
                for domain in state.domains.values()
                for user in domain.users.values()
                if user.user_name.lower() == username.lower() and user.active
            ),
            None,
        )
        if found is None:
            raise UnknownSessionUser(f"no active sandbox user named {username!r}")
        return mint_upst(DomainScope(ctx, state, found[0]), found[1], session_key, ttl_s)


def _bad(message: str) -> Response:
    from starlette.responses import JSONResponse

    return JSONResponse({"code": "InvalidParameter", "message": message}, status_code=400)


async def _json(request: Request) -> dict[str, Any] | None:
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def routes(ctx: SandboxContext, info: Any) -> list[Route]:
    """Hook routes; ``info()`` returns the ready-line dict."""
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "url": ctx.base_url})

    async def get_info(request: Request) -> Response:
        return JSONResponse(info())

    async def requests_(request: Request) -> Response:
        if request.method == "DELETE":
            with ctx.lock:
                ctx.request_log.clear()
            return Response(status_code=204)
        with ctx.lock:
            return JSONResponse(list(ctx.request_log))

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            with ctx.lock:
                ctx.faults.clear()
            return Response(status_code=204)
        data = await _json(request)
        if data is None:
            return _bad("body must be a JSON object {method, path, status, count, delay_s}")
        try:
            fault = Fault(
                method=str(data.get("method", "*")).upper(),
                path=str(data["path"]),
                status=int(data.get("status") or 0),
                count=int(data.get("count", 1)),
                delay_s=float(data.get("delay_s", 0)),
            )
        except (KeyError, TypeError, ValueError):
            return _bad("path is required; status and count must be integers, delay_s a number")
        if (
            not fault.path.startswith("/")
            or fault.count < 1
            or fault.delay_s < 0
            or not (fault.status == 0 or 400 <= fault.status <= 599)
        ):
            return _bad("path must start with '/', count >= 1, delay_s >= 0, status 0 or 400-599")
        with ctx.lock:
            ctx.faults.append(fault)
        return JSONResponse(asdict(fault), status_code=201)

    async def config(request: Request) -> Response:
        if request.method == "POST":
            data = await _json(request)
            names = {f.name for f in fields(SandboxConfig)}
            if data is None or set(data) - names:
                return _bad(
                    f"body must be a JSON object with fields from: {', '.join(sorted(names))}"
                )
            try:
                values = {k: int(v) for k, v in data.items()}
            except (TypeError, ValueError):
                return _bad("config values must be integers")
            if any(v <= 0 for v in values.values()):
                return _bad("config values must be positive")
            with ctx.lock:
                for key, value in values.items():
                    setattr(ctx.config, key, value)
        return JSONResponse(asdict(ctx.config))

    async def session_token(request: Request) -> Response:
        from oci_mcp_cli.sandbox.oauth.tokens import TokenInvalid, load_session_public_key

        data = await _json(request)
        usage = 'body must be {"username": str, "public_key": base64 DER SPKI, "ttl_s": int}'
        if data is None or not isinstance(data.get("username"), str):
            return _bad(usage)
        try:
            key = load_session_public_key(str(data.get("public_key", "")))
            ttl_s = int(data.get("ttl_s", 3600))
            token = mint_session_token(ctx, data["username"], key, ttl_s)
        except (TokenInvalid, TypeError, ValueError) as exc:
            return _bad(f"{usage}: {exc}")
        except UnknownSessionUser as exc:
            return JSONResponse({"code": "NotAuthorizedOrNotFound", "message": str(exc)}, 404)
        return JSONResponse({"token": token})

    return [
        Route("/_sandbox/session-token", session_token, methods=["POST"]),
        Route("/_sandbox/health", health, methods=["GET"]),
        Route("/_sandbox/info", get_info, methods=["GET"]),
        Route("/_sandbox/requests", requests_, methods=["GET", "DELETE"]),
        Route("/_sandbox/faults", faults, methods=["POST", "DELETE"]),
        Route("/_sandbox/config", config, methods=["GET", "POST"]),
    ]
