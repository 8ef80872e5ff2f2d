"""OCI operations described by the SDK's own metadata, served by one generic endpoint (as moto's
responses follow botocore's service models).

The ``oci`` SDK has no declarative operation table: each client method builds ``resource_path``,
``method``, ``query_params``, ``header_params`` and ``call_api(response_type=…)`` in its body.
:func:`spec` reads those from the method's source once (``ast``, cached per operation), so a
route, the query and header names it accepts and the response model come from the SDK, not from
us. A service's ``urls.py`` names the operations it serves and the handler of each
(``responses.py``: request → state rules in ``models.py`` → wire via :func:`model_wire`);
:func:`operation_routes` turns that table into Starlette routes. Generic code here does what is
the same for every operation: the signature check (``signed_endpoint``), ``opc-request-id``,
``ETag`` + ``If-Match`` (412 ``IfMatchFailed``) / ``If-None-Match`` (304) on reads, list paging
and HEAD without a body. docs/sandbox.md "Operations served from the SDK's metadata".
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import re
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oci_mcp_cli.sandbox.wire import (
    ALL_AT_ONCE,
    OciApiError,
    Paging,
    json_response,
    paginate,
    request_id,
    signed_endpoint,
)

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute, Route

    from oci_mcp_cli.sandbox.context import SandboxContext
    from oci_mcp_cli.sandbox.signatures import Principal

_BODY_MODEL = re.compile(r":param oci\.\w+\.models\.(\w+) \w+: \(required\)")


@dataclass(frozen=True)
class OperationSpec:
    """One SDK operation as its client method describes it."""

    service: str  # the SDK package, e.g. "object_storage" (its models describe the wire)
    name: str  # the SDK method, e.g. "get_bucket"
    method: str  # HTTP method
    path: str  # "/n/{namespaceName}/b/{bucketName}"
    required: tuple[str, ...]  # required path and query arguments (wire names)
    query: tuple[str, ...]  # query parameter wire names
    headers: tuple[str, ...]  # request header names (lower case)
    response_type: str | None  # "Bucket", "list[BucketSummary]", "stream" or None
    body_model: str | None  # the request body's model, e.g. "CreateBucketDetails"

    def is_list(self) -> bool:
        return bool(self.response_type and self.response_type.startswith("list["))


def _dict_keys(node: ast.AST) -> tuple[str, ...]:
    if not isinstance(node, ast.Dict):
        return ()
    return tuple(str(k.value) for k in node.keys if isinstance(k, ast.Constant))


@functools.cache
def spec(client_path: str, name: str) -> OperationSpec:
    """The metadata of ``name`` on the SDK client ``client_path`` (e.g.
    ``"oci.object_storage.ObjectStorageClient"``), read from the method's source once."""
    module, _, cls = client_path.rpartition(".")
    fn = getattr(getattr(importlib.import_module(module), cls), name, None)
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))  # type: ignore[arg-type]
    except (OSError, TypeError) as exc:
        raise LookupError(f"no source for the SDK operation {client_path}.{name}") from exc
    found: dict[str, Any] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            target, value = node.targets[0].id, node.value
            if target in ("resource_path", "method") and isinstance(value, ast.Constant):
                found[target] = value.value
            elif target == "required_arguments" and isinstance(value, ast.List):
                found[target] = tuple(e.value for e in value.elts if isinstance(e, ast.Constant))
            elif target in ("query_params", "header_params") and isinstance(value, ast.Dict):
                found.setdefault(target, _dict_keys(value))
        elif (
            isinstance(node, ast.keyword)
            and node.arg == "response_type"
            and isinstance(node.value, ast.Constant)
        ):
            found["response_type"] = node.value.value
    if "method" not in found or "resource_path" not in found:
        raise LookupError(f"{client_path}.{name} builds no resource_path/method: not an operation")
    body = _BODY_MODEL.search(inspect.getdoc(fn) or "")
    return OperationSpec(
        service=module.split(".")[1],
        name=name,
        method=found["method"],
        path=found["resource_path"],
        required=found.get("required_arguments", ()),
        query=found.get("query_params", ()),
        headers=tuple(h.lower() for h in found.get("header_params", ())),
        response_type=found.get("response_type"),
        body_model=body.group(1) if body else None,
    )


@functools.cache
def base_path(client_path: str) -> str:
    """The API version prefix the client puts before every path (``/20160918`` for IAM)."""
    module, _, cls = client_path.rpartition(".")
    init = inspect.getsource(getattr(importlib.import_module(module), cls).__init__)
    found = re.search(r"'base_path': '([^']*)'", init)
    return found.group(1).rstrip("/") if found else ""


@dataclass
class Call:
    """One request to an operation, parsed: what a handler reads."""

    spec: OperationSpec
    request: Request
    principal: Principal
    body: bytes

    @property
    def path(self) -> dict[str, str]:
        return dict(self.request.path_params)

    def query(self, name: str) -> str | None:
        """A query parameter the SDK sends for this operation (``None`` when absent)."""
        assert name in self.spec.query, f"{self.spec.name} has no query parameter {name}"
        return self.request.query_params.get(name)

    def required_query(self, name: str) -> str:
        value = self.query(name)
        if not value:
            raise OciApiError(400, "MissingParameter", f"Missing the required parameter {name}")
        return value

    def header(self, name: str) -> str | None:
        assert name in self.spec.headers, f"{self.spec.name} has no header {name}"
        return self.request.headers.get(name)

    def json_body(self) -> dict[str, Any]:
        import json

        try:
            data = json.loads(self.body or b"null")
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise OciApiError(400, "InvalidParameter", "The request body must be a JSON object")
        if self.spec.body_model:
            model = _body_subtype(self.spec.service, self.spec.body_model, data)
            known = set(_attribute_map(self.spec.service, model).values())
            unknown = sorted(set(data) - known)
            if unknown:
                raise OciApiError(
                    400, "InvalidParameter", f"Unknown fields in the request body: {unknown}"
                )
        return data

    def check_write_preconditions(self, current_etag: str | None) -> None:
        """``If-Match`` / ``If-None-Match: *`` of a write against the resource's current ETag
        (``None``: it does not exist): 412 ``IfMatchFailed`` / ``IfNoneMatchFailed``."""
        if_match = self.request.headers.get("if-match")
        if if_match is not None and if_match != "*" and if_match != current_etag:
            raise OciApiError(412, "IfMatchFailed", f"The If-Match header {if_match!r} failed")
        if if_match == "*" and current_etag is None:
            raise OciApiError(412, "IfMatchFailed", "If-Match * and the resource does not exist")
        if self.request.headers.get("if-none-match") == "*" and current_etag is not None:
            raise OciApiError(412, "IfNoneMatchFailed", "If-None-Match * and the resource exists")


@dataclass
class Reply:
    """A handler's answer; the generic endpoint renders it."""

    data: Any = None  # wire JSON (dict / list) or bytes (``stream`` operations)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None  # → ``ETag``; reads check If-Match / If-None-Match against it
    media_type: str = "application/json"


OperationHandler = Callable[[Call], Reply]


@dataclass(frozen=True)
class Served:
    """One row of a service's operation table: the SDK operation, its handler, its paging."""

    name: str
    handler: OperationHandler
    paging: Paging = ALL_AT_ONCE


def _check_read_preconditions(request: Request, etag: str | None) -> int | None:
    """304 / 412 for a GET or HEAD with conditions, or ``None`` to answer normally."""
    if etag is None:
        return None
    if_match = request.headers.get("if-match")
    if if_match is not None and if_match not in ("*", etag):
        raise OciApiError(412, "IfMatchFailed", f"The If-Match header {if_match!r} failed")
    if request.headers.get("if-none-match") in ("*", etag):
        return 304
    return None


def render(call: Call, served: Served, reply: Reply) -> Response:
    """A reply in OCI's wire form: paging for lists, ETag and conditionals, HEAD bodiless."""
    from starlette.responses import Response

    request = call.request
    headers = dict(reply.headers)
    data = reply.data
    if reply.etag is not None:
        headers["ETag"] = reply.etag
    if request.method in ("GET", "HEAD") and _check_read_preconditions(request, reply.etag):
        return _bare(request, 304, headers)
    if call.spec.is_list() and isinstance(data, list):
        data, page_headers = paginate(request, data, served.paging)
        headers.update(page_headers)
    if request.method == "HEAD" or reply.status == 204:
        if isinstance(data, bytes):
            headers.setdefault("Content-Length", str(len(data)))
        return _bare(request, reply.status, headers)
    if isinstance(data, bytes):
        if not hasattr(request.state, "request_id"):
            request.state.request_id = request_id(request)
        headers["opc-request-id"] = request.state.request_id
        return Response(data, reply.status, headers=headers, media_type=reply.media_type)
    return json_response(request, data, reply.status, headers=headers)


def _bare(request: Request, status: int, headers: dict[str, str]) -> Response:
    from starlette.responses import Response

    if not hasattr(request.state, "request_id"):
        request.state.request_id = request_id(request)
    return Response(b"", status, headers={"opc-request-id": request.state.request_id, **headers})


def _route_path(path: str) -> str:
    """The SDK's path template as a Starlette route: object names may hold ``/``."""
    return path.replace("{objectName}", "{objectName:path}")


def operation_routes(
    ctx: SandboxContext,
    client_path: str,
    table: Sequence[Served],
    echo: tuple[str, ...] = (),
    trailing_slash: bool = False,
) -> list[Route]:
    """Routes for ``table``: one per SDK path template, dispatching on the HTTP method; with
    ``trailing_slash`` a collection (a path not ending in a parameter) also answers at
    ``path/``."""
    from starlette.routing import Route

    base = base_path(client_path)
    by_path: dict[str, dict[str, Served]] = {}
    for served in table:
        op = spec(client_path, served.name)
        by_path.setdefault(base + op.path, {})[op.method] = served

    def dispatcher(methods: dict[str, Served]) -> Callable[..., Response]:
        def handle(request: Request, principal: Principal, body: bytes) -> Response:
            served = methods.get(request.method) or methods["GET"]  # HEAD of a GET route
            call = Call(spec(client_path, served.name), request, principal, body)
            for name in call.spec.required:
                if name in call.spec.query and not request.query_params.get(name):
                    raise OciApiError(
                        400, "MissingParameter", f"Missing the required parameter {name}"
                    )
            return render(call, served, served.handler(call))

        handle.__name__ = "_".join(s.name for s in methods.values())
        return handle

    routes = []
    for path, methods in by_path.items():
        endpoint = signed_endpoint(ctx, dispatcher(methods), echo=echo)
        variants = [path, path + "/"] if trailing_slash and not path.endswith("}") else [path]
        routes += [Route(_route_path(p), endpoint, methods=list(methods)) for p in variants]
    return routes


def lazy_routes(prefixes: tuple[str, ...], build: Callable[[], list[Route]]) -> BaseRoute:
    """One route standing for the routes ``build()`` returns, built on the first request whose
    path starts with one of ``prefixes`` (every built path must, else RuntimeError); until then
    it matches nothing. The sandbox starts without importing an SDK service it may never serve
    (``oci.core``: ≈ 0.3-0.6 s, docs/benchmarks.md "The demo (stop 19)"); once built, requests
    are matched and answered by the built routes exactly as if they had been listed directly."""
    import threading

    from starlette.routing import BaseRoute, Match, NoMatchFound

    def route_path(scope: Any) -> str:
        path, root = str(scope.get("path", "")), str(scope.get("root_path", ""))
        return path[len(root) :] if root and path.startswith(root + "/") else path

    class LazyRoutes(BaseRoute):
        def __init__(self) -> None:
            self._built: list[Route] | None = None
            self._lock = threading.Lock()

        @property
        def routes(self) -> list[Route]:
            with self._lock:
                if self._built is None:
                    built = build()
                    stray = [r.path for r in built if not r.path.startswith(prefixes)]
                    if stray:
                        raise RuntimeError(f"routes {stray} are outside {prefixes}")
                    self._built = built
                return self._built

        def _match(self, scope: Any) -> tuple[Match, Any, Route | None]:
            if scope.get("type") != "http" or not route_path(scope).startswith(prefixes):
                return Match.NONE, {}, None
            partial: tuple[Match, Any, Route | None] | None = None
            for route in self.routes:  # as Starlette's Router: the first full match wins
                match, child = route.matches(scope)
                if match is Match.FULL:
                    return match, child, route
                if match is Match.PARTIAL and partial is None:
                    partial = (match, child, route)
            return partial or (Match.NONE, {}, None)

        def matches(self, scope: Any) -> tuple[Match, Any]:
            match, child, _ = self._match(scope)
            return match, child

        async def handle(self, scope: Any, receive: Any, send: Any) -> None:
            _, _, route = self._match(scope)
            assert route is not None, "handle() after a match only"
            await route.handle(scope, receive, send)

        def url_path_for(self, name: str, /, **params: Any) -> Any:
            for route in self.routes:
                try:
                    return route.url_path_for(name, **params)
                except NoMatchFound:
                    pass
            raise NoMatchFound(name, params)

    return LazyRoutes()


@functools.cache
def _attribute_map(service: str, model: str) -> dict[str, str]:
    models = importlib.import_module(f"oci.{service}.models")
    return dict(getattr(models, model)().attribute_map)


def _body_subtype(service: str, model: str, data: dict[str, Any]) -> str:
    """A polymorphic body model's concrete subtype (``SearchDetails`` → by its ``type``)."""
    cls = getattr(importlib.import_module(f"oci.{service}.models"), model)
    subtype = getattr(cls, "get_subtype", None)
    return str(subtype(data)) if subtype else model


def model_wire(service: str, model: str, **values: Any) -> dict[str, Any]:
    """An SDK model on the wire: every attribute of ``model`` under its wire name (the SDK's
    ``attribute_map``), in the SDK's order, ``null`` when not given. ``values`` use the SDK's
    Python attribute names; an unknown one is a bug (AssertionError)."""
    amap = _attribute_map(service, model)
    unknown = set(values) - set(amap)
    assert not unknown, f"{model} has no attributes {sorted(unknown)}"
    return {wire: values.get(attr) for attr, wire in amap.items()}
