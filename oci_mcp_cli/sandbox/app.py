"""Routing: one Starlette app serving every endpoint family of the sandbox on one origin."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from oci_mcp_cli.sandbox.compute import urls as compute_urls
from oci_mcp_cli.sandbox.hooks import SandboxMiddleware
from oci_mcp_cli.sandbox.hooks import routes as hook_routes
from oci_mcp_cli.sandbox.identity import urls as identity_urls
from oci_mcp_cli.sandbox.oauth import urls as oauth_urls
from oci_mcp_cli.sandbox.objectstorage import urls as objectstorage_urls
from oci_mcp_cli.sandbox.scim import routes as scim_routes
from oci_mcp_cli.sandbox.search import urls as search_urls
from oci_mcp_cli.sandbox.wire import error_body_for_path, json_response

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from oci_mcp_cli.sandbox.context import SandboxContext


async def _not_found(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 404)
    code = "NotAuthorizedOrNotFound" if status == 404 else "MethodNotAllowed"
    message = f"no {request.method} {request.url.path} on the oci-mcp sandbox"
    return json_response(
        request, error_body_for_path(request.url.path, status, code, message), status
    )


def build_app(ctx: SandboxContext, info: Callable[[], dict[str, Any]]) -> Starlette:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware

    routes = [
        *oauth_urls.routes(ctx),  # first: it owns /admin/v1/SigningCert/jwk
        *scim_routes.routes(ctx),
        *identity_urls.routes(ctx),
        *objectstorage_urls.routes(ctx),
        *compute_urls.routes(ctx),
        *search_urls.routes(ctx),
        *hook_routes(ctx, info),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(SandboxMiddleware, ctx=ctx)],
        exception_handlers={404: _not_found, 405: _not_found},
    )
