"""The OAuth/OIDC route table of every sandbox domain (mounted before the SCIM routes)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from oci_mcp_cli.sandbox.context import SandboxContext
from oci_mcp_cli.sandbox.oauth import authorize, discovery, endpoints, grants
from oci_mcp_cli.sandbox.oauth.errors import unknown_domain
from oci_mcp_cli.sandbox.oauth.runtime import OAuthRuntime

Handler = Callable[[OAuthRuntime, Request, str], Awaitable[Response]]


async def _discovery(rt: OAuthRuntime, request: Request, guid: str) -> Response:
    return JSONResponse(discovery.discovery_document(rt.ctx, guid))


async def _jwks(rt: OAuthRuntime, request: Request, guid: str) -> Response:
    with rt.ctx.store.read() as state:
        domain = state.domains[guid]
    return await discovery.jwks(rt.ctx, request, domain)


def routes(ctx: SandboxContext) -> list[Route]:
    """The OAuth/OIDC routes of every domain of this sandbox."""
    rt = OAuthRuntime(ctx)

    def bind(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            guid = request.path_params["guid"]
            with ctx.store.read() as state:
                known = state.domain_by_guid(guid) is not None
            if not known:
                return unknown_domain(guid)
            return await handler(rt, request, guid)

        endpoint.__name__ = handler.__name__
        return endpoint

    table: list[tuple[str, Handler, list[str]]] = [
        ("/.well-known/openid-configuration", _discovery, ["GET"]),
        ("/admin/v1/SigningCert/jwk", _jwks, ["GET"]),
        ("/oauth2/v1/authorize", authorize.authorize_get, ["GET"]),
        ("/oauth2/v1/authorize", authorize.authorize_post, ["POST"]),
        ("/oauth2/v1/token", grants.token_endpoint, ["POST"]),
        ("/oauth2/v1/userinfo", endpoints.userinfo, ["GET", "POST"]),
        ("/oauth2/v1/introspect", endpoints.introspect, ["POST"]),
        ("/oauth2/v1/revoke", endpoints.revoke, ["POST"]),
        ("/oauth2/v1/userlogout", endpoints.userlogout, ["GET"]),
    ]
    return [
        Route("/{guid}" + path, bind(handler), methods=methods) for path, handler, methods in table
    ]
