"""Wire format of the sandbox's endpoint families: OCI JSON, SCIM JSON, errors, request ids.

Handlers raise :class:`OciApiError` / :class:`ScimError`; :func:`signed_endpoint` authenticates the
request, runs the handler and renders errors in the family's wire format with ``opc-request-id``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from oci_mcp_cli.sandbox.context import SandboxContext
    from oci_mcp_cli.sandbox.signatures import Principal

SCIM_ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
SCIM_ERROR_EXT = "urn:ietf:params:scim:api:oracle:idcs:extension:messages:Error"
SCIM_LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
Family = Literal["oci", "scim"]
Handler = Callable[["Request", "Principal", bytes], "Response"]


class OciApiError(Exception):
    """An OCI (non-SCIM) error: ``{"code","message"}``."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class ScimError(Exception):
    """A SCIM error: string ``status``, ``detail`` and the IDCS ``messageId`` extension."""

    def __init__(self, status: int, detail: str, message_id: str = "error.common.validation"):
        super().__init__(detail)
        self.status, self.detail, self.message_id = status, detail, message_id


def not_found(what: str) -> OciApiError:
    return OciApiError(
        404, "NotAuthorizedOrNotFound", f"{what} not found or you are not authorized to see it"
    )


def request_id(request: Request) -> str:
    """Echo the client's opc-request-id with a server segment appended (as OCI does)."""
    ours = uuid.uuid4().hex.upper()
    client = request.headers.get("opc-request-id")
    return f"{client}/{ours}" if client else ours


def json_response(
    request: Request, data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    from starlette.responses import Response

    if not hasattr(request.state, "request_id"):
        request.state.request_id = request_id(request)
    return Response(
        json.dumps(data),
        status_code=status,
        media_type="application/json",
        headers={"opc-request-id": request.state.request_id, **(headers or {})},
    )


def empty_response(request: Request, status: int = 204) -> Response:
    from starlette.responses import Response

    if not hasattr(request.state, "request_id"):
        request.state.request_id = request_id(request)
    return Response(status_code=status, headers={"opc-request-id": request.state.request_id})


MAX_LIMIT = 1000


@dataclass(frozen=True)
class Paging:
    """How one OCI list operation pages (each per the recordings in docs/sandbox.md)."""

    default_limit: int | None = None  # page size without ``limit``; None = everything at once
    page_cap: int = MAX_LIMIT  # a larger ``limit`` is served as pages of this size
    echo_limit: bool = False  # answer ``opc-limit`` (the page size used), as IAM lists do


ALL_AT_ONCE = Paging()


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _page_size(raw_limit: str | None, paging: Paging) -> int | None:
    if raw_limit is None:
        return paging.default_limit
    try:
        limit = int(raw_limit)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise OciApiError(
            400, "InvalidParameter", f"limit must be an integer from 1 to {MAX_LIMIT}"
        )
    return min(limit, paging.page_cap)


def paginate(
    request: Request, items: list[Any], paging: Paging = ALL_AT_ONCE
) -> tuple[list[Any], dict[str, str]]:
    """OCI list paging: ``limit`` (1..1000, served up to ``paging.page_cap``) and an opaque
    ``page`` token; ``opc-next-page`` when more items follow; ``opc-limit`` if the operation
    echoes it."""
    page = request.query_params.get("page")
    offset = 0
    if page:
        try:
            kind, _, value = (
                base64.urlsafe_b64decode(page + "=" * (-len(page) % 4)).decode().partition(":")
            )
            offset = int(value)
        except ValueError:
            kind = ""
        if kind != "offset" or offset < 0 or _page_token(offset) != page:
            raise OciApiError(400, "InvalidParameter", f"Invalid page token {page!r}")
    size = _page_size(request.query_params.get("limit"), paging)
    if size is None:
        return items[offset:], {}
    end = offset + size
    headers = {"opc-next-page": _page_token(end)} if end < len(items) else {}
    if paging.echo_limit:
        headers["opc-limit"] = str(size)
    return items[offset:end], headers


def sort_items(
    request: Request, items: list[dict[str, Any]], name_key: str, name_sort: str = "NAME"
) -> list[dict]:
    """OCI ``sortBy=TIMECREATED|NAME`` / ``sortOrder=ASC|DESC`` (defaults: TIMECREATED newest
    first, NAME ascending and case-sensitive, as the IAM API documents); ``items`` keep the
    order they came in (the operation's default order) when ``sortBy`` is absent."""
    sort_by, order = request.query_params.get("sortBy"), request.query_params.get("sortOrder")
    if order is not None and order not in ("ASC", "DESC"):
        raise OciApiError(400, "InvalidParameter", "sortOrder must be ASC or DESC")
    if sort_by is None:
        return items
    keys = {"TIMECREATED": "timeCreated", name_sort: name_key}  # Core APIs say DISPLAYNAME
    if sort_by not in keys:
        raise OciApiError(400, "InvalidParameter", f"sortBy must be TIMECREATED or {name_sort}")
    descending = order == "DESC" if order else sort_by == "TIMECREATED"
    return sorted(items, key=lambda i: str(i.get(keys[sort_by]) or ""), reverse=descending)


def oci_list_response(
    request: Request, items: list[Any], paging: Paging = ALL_AT_ONCE
) -> Response:
    """A paged OCI list (JSON array) with ``opc-next-page`` when there is more."""
    page, headers = paginate(request, items, paging)
    return json_response(request, page, headers=headers)


def with_tags(fields: dict[str, Any], shown: bool = True) -> dict[str, Any]:
    """An OCI resource's wire form: ``fields`` then the (always empty) freeform/defined tags;
    ``null`` where the operation leaves them out unless asked (ListBuckets without
    ``fields=tags``)."""
    return {**fields, "freeformTags": {} if shown else None, "definedTags": {} if shown else None}


def entity_etag(data: Any) -> str:
    """An IAM ``ETag`` (40 hex, as recorded): a digest of the representation, so it changes
    exactly when the resource does."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha1(canonical, usedforsecurity=False).hexdigest()


@functools.cache
def model_wire_names(service: str, model: str) -> tuple[str, ...]:
    """The wire names of an SDK model (its ``attribute_map``), in the SDK's order: e.g.
    ``("identity", "User")``. The SDK is imported on first use only."""
    models = importlib.import_module(f"oci.{service}.models")
    return tuple(getattr(models, model)().attribute_map.values())


def oci_error_body(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message}


def scim_error_body(status: int, detail: str, message_id: str) -> dict[str, Any]:
    return {
        "schemas": [SCIM_ERROR, SCIM_ERROR_EXT],
        "detail": detail,
        "status": str(status),
        SCIM_ERROR_EXT: {"messageId": message_id},
    }


def oauth_error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": code, "error_description": message}


def error_body_for_path(path: str, status: int, code: str, message: str) -> dict[str, Any]:
    """An error body in the wire format of the endpoint family that serves ``path``."""
    if "/admin/v1/" in path and "/SigningCert/" not in path:
        return scim_error_body(status, f"{code}: {message}", code)
    if "/oauth2/v1/" in path:
        return oauth_error_body("temporarily_unavailable", message)
    return oci_error_body(code, message)


def error_response(request: Request, family: Family, exc: Exception) -> Response:
    from oci_mcp_cli.sandbox.signatures import NotAuthenticated

    if isinstance(exc, NotAuthenticated):
        if family == "scim":
            body = scim_error_body(401, f"NotAuthenticated: {exc.message}", "NotAuthenticated")
        else:
            body = oci_error_body("NotAuthenticated", exc.message)
        return json_response(request, body, 401)
    if isinstance(exc, ScimError):
        return json_response(
            request, scim_error_body(exc.status, exc.detail, exc.message_id), exc.status
        )
    assert isinstance(exc, OciApiError)
    return json_response(request, oci_error_body(exc.code, exc.message), exc.status)


def signed_endpoint(
    ctx: SandboxContext,
    handler: Handler,
    family: Family = "oci",
    echo: tuple[str, ...] = (),
) -> Callable[[Request], Any]:
    """A Starlette endpoint: verify the OCI signature, call ``handler``, render errors; every
    answer (errors too) repeats the request headers named in ``echo`` that the client sent.

    Authentication only: *authorization* (who may call) is the handler's job (e.g. the SCIM
    admin API's domain-admin check, which answers 401 ``NotAuthorized``)."""
    from oci_mcp_cli.sandbox.signatures import NotAuthenticated, authenticate

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        try:
            principal = authenticate(request, body, ctx)
            response = handler(request, principal, body)
        except (NotAuthenticated, OciApiError, ScimError) as exc:
            response = error_response(request, family, exc)
        for name in echo:
            if name in request.headers:
                response.headers[name] = request.headers[name]
        return response

    endpoint.__name__ = getattr(handler, "__name__", "endpoint")
    return endpoint
