"""The FastMCP internals oci-mcp relies on, checked against the installed FastMCP.

``pyproject.toml`` pins FastMCP to the minor we test. When an upgrade moves one of these, the test
fails naming the internal and what depends on it, instead of a sign-in or a restart breaking
later in a way no other test pins down. Everything runs offline: an ``OAuthProxy`` needs no
upstream to be built, and ``OIDCProxy`` is only inspected (it fetches discovery when built).
"""

from __future__ import annotations

import inspect
import logging
import tomllib
from html.parser import HTMLParser
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

FASTMCP = version("fastmcp")
ROOT = Path(__file__).resolve().parents[1]


def broken(internal: str, relied_on: str) -> str:
    """The failure text: which internal changed and what of ours depends on it."""
    return (
        f"FastMCP {FASTMCP} changed {internal}; oci-mcp relies on it: {relied_on}. "
        "Adapt that code (and this contract), then widen the fastmcp pin in pyproject.toml."
    )


@pytest.fixture
def proxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A real OAuthProxy (the base of OIDCProxy) with FastMCP's default storage under tmp."""
    import fastmcp
    from fastmcp.server.auth.oauth_proxy import OAuthProxy
    from fastmcp.server.auth.providers.jwt import JWTVerifier

    monkeypatch.setattr(fastmcp.settings, "home", tmp_path)
    return OAuthProxy(
        upstream_authorization_endpoint="https://idcs.example.com/oauth2/v1/authorize",
        upstream_token_endpoint="https://idcs.example.com/oauth2/v1/token",
        upstream_revocation_endpoint="https://idcs.example.com/oauth2/v1/revoke",  # → /revoke
        upstream_client_id="login-client",
        upstream_client_secret="login-secret",
        token_verifier=JWTVerifier(
            jwks_uri="https://idcs.example.com/admin/v1/SigningCert/jwk",
            issuer="https://identity.oraclecloud.com/",
        ),
        base_url="http://127.0.0.1:8000",
        jwt_signing_key="a jwt signing key of some length",
    )


def test_installed_fastmcp_is_the_pinned_minor() -> None:
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = [Requirement(d) for d in project["dependencies"] if d.startswith("fastmcp")]
    assert pins and pins[0].specifier.contains(FASTMCP), (
        f"fastmcp {FASTMCP} is installed but pyproject pins {pins[0].specifier if pins else '?'}"
    )


# --- key derivation ------------------------------------------------------------------------------


def test_jwt_signing_key_derivation(proxy: Any) -> None:
    from oci_mcp_cli.server.auth import signing_key_bytes

    assert proxy._jwt_signing_key == signing_key_bytes("a jwt signing key of some length"), broken(
        "OAuthProxy's derivation of a string jwt_signing_key (derive_jwt_key, PBKDF2, salt "
        "'fastmcp-jwt-signing-key') or its _jwt_signing_key attribute",
        "server/auth.signing_key_bytes derives the same key once, so tokens issued before a "
        "restart (or by another replica) still verify",
    )


def test_default_storage_location_and_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fastmcp
    from fastmcp.server.auth.oauth_proxy import OAuthProxy
    from fastmcp.server.auth.providers.jwt import JWTVerifier

    from oci_mcp_cli.server.auth import default_storage_dir, signing_key_bytes

    monkeypatch.setattr(fastmcp.settings, "home", tmp_path)
    key = signing_key_bytes("another jwt signing key")
    OAuthProxy(
        upstream_authorization_endpoint="https://idcs.example.com/oauth2/v1/authorize",
        upstream_token_endpoint="https://idcs.example.com/oauth2/v1/token",
        upstream_client_id="c",
        upstream_client_secret="s",
        token_verifier=JWTVerifier(jwks_uri="https://idcs.example.com/jwk", issuer="https://i/"),
        base_url="http://127.0.0.1:8000",
        jwt_signing_key=key,
    )
    made = sorted(p for p in (tmp_path / "oauth-proxy").iterdir())
    assert made == [default_storage_dir(key)], broken(
        "the default client_storage location FASTMCP_HOME/oauth-proxy/<sha256(Fernet key)[:12]>"
        " or its key (derive_jwt_key, HKDF, salt 'fastmcp-storage-encryption-key')",
        f"server/auth.default_storage_dir and _storage_fernet_key reproduce it (got {made})",
    )


# --- the proxy class we subclass ----------------------------------------------------------------

OVERRIDDEN = {  # method: where ours lives
    "register_client": "server/oauth_guard.OAuthGuardMixin",
    "get_client": "server/oauth_guard.OAuthGuardMixin",
    "load_authorization_code": "server/oauth_guard.OAuthGuardMixin",
    "exchange_authorization_code": "server/oauth_guard.OAuthGuardMixin",
    "exchange_refresh_token": "server/oauth_guard.OAuthGuardMixin",
    "get_routes": "server/oauth_guard.OAuthGuardMixin and server/revocation.RevocationMixin",
    "load_access_token": "server/auth.OciOIDCProxy and server/revocation.RevocationMixin",
    "revoke_token": "server/revocation.RevocationMixin",
    "get_token_verifier": "server/auth.OciOIDCProxy (JWKS watch and retry interval)",
}


@pytest.mark.parametrize("name", sorted(OVERRIDDEN))
def test_overridden_methods_keep_their_signature(name: str) -> None:
    from fastmcp.server.auth.oidc_proxy import OIDCProxy

    from oci_mcp_cli.server.auth import _proxy_class

    ours_class = _proxy_class(30.0)
    theirs = getattr(OIDCProxy, name, None)
    assert theirs is not None, broken(f"OIDCProxy.{name} (removed)", f"{OVERRIDDEN[name]}")
    ours = getattr(ours_class, name)
    assert ours is not theirs, f"{name} is not overridden any more: update OVERRIDDEN"
    assert list(inspect.signature(ours).parameters) == list(inspect.signature(theirs).parameters), (
        broken(
            f"the parameters of OIDCProxy.{name}{inspect.signature(theirs)}",
            f"{OVERRIDDEN[name]} overrides it and calls super() with the same arguments",
        )
    )
    assert inspect.iscoroutinefunction(ours) == inspect.iscoroutinefunction(theirs), broken(
        f"whether OIDCProxy.{name} is async", OVERRIDDEN[name]
    )


def test_oidc_proxy_builds_its_verifier_through_get_token_verifier() -> None:
    from fastmcp.server.auth.oidc_proxy import OIDCProxy
    from fastmcp.server.auth.providers.jwt import JWTVerifier

    assert "self.get_token_verifier(" in inspect.getsource(OIDCProxy.__init__), broken(
        "OIDCProxy.__init__ (no longer builds the upstream verifier with get_token_verifier)",
        "server/auth.OciOIDCProxy.get_token_verifier gives the verifier our JWKS client",
    )
    parameters = inspect.signature(JWTVerifier.__init__).parameters
    wanted = {
        "jwks_uri",
        "issuer",
        "algorithm",
        "audience",
        "required_scopes",
        "http_client",
        "jwks_refresh_interval",
    }
    assert wanted <= set(parameters), broken(
        f"JWTVerifier's parameters (missing {sorted(wanted - set(parameters))})",
        "server/auth.OciOIDCProxy.get_token_verifier builds a JWTVerifier with them",
    )
    assert "oidc_config" in inspect.getsource(OIDCProxy.__init__), broken(
        "OIDCProxy.oidc_config", "get_token_verifier reads its jwks_uri and issuer"
    )


def test_oidc_proxy_takes_the_arguments_we_pass() -> None:
    from fastmcp.server.auth.oidc_proxy import OIDCProxy

    passed = {
        "config_url",
        "client_id",
        "client_secret",
        "base_url",
        "redirect_path",
        "required_scopes",
        "valid_scopes",
        "extra_authorize_params",
        "jwt_signing_key",
        "client_storage",
        "require_authorization_consent",
        "allowed_client_redirect_uris",
    }
    parameters = set(inspect.signature(OIDCProxy.__init__).parameters)
    assert passed <= parameters, broken(
        f"OIDCProxy's parameters (missing {sorted(passed - parameters)})",
        "server/auth.build_auth and OAuthGuardMixin.__init__ pass them",
    )


PRIVATE_ATTRIBUTES = {
    "_client_storage": "the shared store: revocations, code redemptions, read cache",
    "_client_store": "OAuthGuardMixin._touch_client re-puts a client with a TTL",
    "_code_store": "OAuthGuardMixin.load_authorization_code deletes a replayed code",
    "_jti_mapping_store": "RevocationMixin and OAuthGuardMixin map FastMCP jti → upstream",
    "_upstream_token_store": "revocation deletes the upstream token set",
    "_refresh_token_store": "a replayed code revokes the refresh token it led to",
    "_redirect_path": "OAuthGuardMixin.get_routes brands the callback page",
    "_token_expiry_threshold_seconds": "OciOIDCProxy.load_access_token bounds its memo",
    "_fastmcp_access_token_expiry_seconds": "RevocationMixin._grant_ttl (read with a 0 default)",
    "base_url": "RevocationMixin.get_routes rebuilds /revoke",
    "revocation_options": "RevocationMixin.get_routes rebuilds /revoke",
}


@pytest.mark.parametrize("name", sorted(PRIVATE_ATTRIBUTES))
def test_proxy_attributes_we_read(proxy: Any, name: str) -> None:
    assert hasattr(proxy, name), broken(f"OAuthProxy.{name} (gone)", PRIVATE_ATTRIBUTES[name])


def test_jwt_issuer_verifies_the_tokens_it_issues(proxy: Any) -> None:
    from fastmcp.server.auth.oauth_proxy import OAuthProxy

    assert isinstance(inspect.getattr_static(OAuthProxy, "jwt_issuer"), property)
    proxy.get_routes()  # FastMCP builds its issuer with the routes
    issuer = proxy.jwt_issuer
    token = issuer.issue_access_token(client_id="c", scopes=["openid"], jti="j-1")
    payload = issuer.verify_token(token)
    assert payload["jti"] == "j-1" and payload["client_id"] == "c", broken(
        "JWTIssuer.issue_access_token / verify_token or the jti and client_id claims",
        "RevocationMixin._fastmcp_access_payload reads them from FastMCP's access JWT",
    )


def test_storage_collections(proxy: Any) -> None:
    """tests/test_storage_redis.py and tests/test_storage_bounds.py read these collections, and
    docs (fastmcp-oauth-proxy.md §6) say what each holds."""
    collections = {
        "_client_store": "mcp-oauth-proxy-clients",
        "_transaction_store": "mcp-oauth-transactions",
        "_consent_csrf_store": "mcp-consent-csrf-tokens",
        "_code_store": "mcp-authorization-codes",
        "_upstream_token_store": "mcp-upstream-tokens",
        "_jti_mapping_store": "mcp-jti-mappings",
        "_refresh_token_store": "mcp-refresh-tokens",
    }
    for attribute, name in collections.items():
        actual = getattr(getattr(proxy, attribute, None), "_default_collection", None)
        assert actual == name, broken(
            f"the collection of OAuthProxy.{attribute} ({actual!r}, was {name!r})",
            "the storage tests and the Redis namespace checks name it",
        )


def test_token_models_fields() -> None:
    from fastmcp.server.auth.oauth_proxy.models import JTIMapping, UpstreamTokenSet

    for model, fields in (
        (UpstreamTokenSet, {"upstream_token_id", "expires_at", "refresh_token_expires_at"}),
        (JTIMapping, {"upstream_token_id"}),
    ):
        missing = fields - set(model.model_fields)
        assert not missing, broken(
            f"{model.__name__} fields (missing {sorted(missing)})",
            "RevocationMixin and OAuthGuardMixin read them to revoke a grant",
        )


def test_id_jag_tokens_are_marked_fastmcp_grant() -> None:
    import fastmcp

    package = Path(fastmcp.__file__).parent
    assert any(
        "fastmcp_grant" in path.read_text(errors="ignore") for path in package.rglob("*.py")
    ), broken(
        "the 'fastmcp_grant' claim of identity-assertion (ID-JAG) tokens",
        "RevocationMixin._fastmcp_access_payload tells those apart from access tokens by it",
    )


def test_redirect_validation_helpers() -> None:
    from fastmcp.server.auth.oauth_proxy import models
    from fastmcp.server.auth.redirect_validation import validate_redirect_uri
    from pydantic import AnyUrl

    assert list(inspect.signature(validate_redirect_uri).parameters) == [
        "redirect_uri",
        "allowed_patterns",
    ], broken("redirect_validation.validate_redirect_uri", "oauth_guard.redirect_allowed")
    assert validate_redirect_uri("http://127.0.0.1:5555/cb", ["http://127.0.0.1:*"])
    registered = [AnyUrl("http://127.0.0.1:5555/cb")]
    matches = models._matches_registered_redirect_uri
    assert matches(AnyUrl("http://127.0.0.1:5555/cb"), registered) and not matches(
        AnyUrl("http://127.0.0.1:5555/other"), registered
    ), broken(
        "oauth_proxy.models._matches_registered_redirect_uri",
        "oauth_guard._bound_client_class holds a client to the URIs it registered",
    )
    assert "validate_redirect_uri" in vars(models.ProxyDCRClient), broken(
        "ProxyDCRClient.validate_redirect_uri", "oauth_guard._bound_client_class overrides it"
    )


# --- routes, consent page ------------------------------------------------------------------------


def test_routes_we_wrap_exist(proxy: Any) -> None:
    from starlette.routing import Route

    paths = {r.path for r in proxy.get_routes() if isinstance(r, Route)}
    wanted = {"/register", "/authorize", "/consent", "/revoke", "/token", proxy._redirect_path}
    assert wanted <= paths, broken(
        f"the proxy's routes (missing {sorted(wanted - paths)})",
        "OAuthGuardMixin.get_routes rate-limits and brands them; RevocationMixin replaces /revoke",
    )


def test_revocation_provider_adapter() -> None:
    from fastmcp.server.auth.oauth_proxy.revocation import RevocationProvider
    from mcp.server.auth.routes import create_auth_routes

    view = RevocationProvider(proxy=object())  # type: ignore[arg-type]
    assert getattr(view, "_proxy", None) is not None and hasattr(view, "load_access_token"), broken(
        "oauth_proxy.revocation.RevocationProvider (._proxy, load_access_token)",
        "server/revocation._RevocationView subclasses it",
    )
    assert {"provider", "issuer_url", "revocation_options"} <= set(
        inspect.signature(create_auth_routes).parameters
    ), broken("mcp.server.auth.routes.create_auth_routes", "RevocationMixin.get_routes")


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, list[str]] = {}
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("input", "button") and a.get("name"):
            self.fields.setdefault(str(a["name"]), []).append(str(a.get("value") or ""))
        if tag == "img" and a.get("src"):
            self.images.append(str(a["src"]))


def test_consent_form_field_names() -> None:
    """The headless sign-in (client/headless.py) recognises FastMCP's consent form by its
    ``txn_id`` and ``csrf_token`` fields and approves with ``action=approve``."""
    from fastmcp.server.auth.oauth_proxy.consent import ConsentMixin
    from fastmcp.server.auth.oauth_proxy.ui import create_consent_html
    from fastmcp.utilities.ui import FASTMCP_LOGO_URL

    page = create_consent_html(
        client_id="c",
        redirect_uri="http://127.0.0.1:5555/cb",
        scopes=["openid"],
        txn_id="txn-1",
        csrf_token="csrf-1",
    )
    forms = _Forms()
    forms.feed(page)
    assert forms.fields.get("txn_id") == ["txn-1"] and forms.fields.get("csrf_token") == [
        "csrf-1"
    ], broken("the consent form's hidden fields txn_id and csrf_token", "client/headless._fill")
    assert "approve" in forms.fields.get("action", []), broken(
        "the consent form's approve button (name=action value=approve)", "client/headless._fill"
    )
    handler = inspect.getsource(ConsentMixin._submit_consent)
    for read in ('form.get("txn_id"', 'form.get("action"', 'form.get("csrf_token"', '"approve"'):
        assert read in handler, broken(
            f"ConsentMixin._submit_consent (no longer reads {read})", "client/headless._fill"
        )
    assert FASTMCP_LOGO_URL in page, broken(
        "the consent page's logo (fastmcp.utilities.ui.FASTMCP_LOGO_URL)",
        "oauth_guard._Branded swaps that URL for our inline icon",
    )


# --- names we filter logs by, dependencies we call ---------------------------------------------


def test_logger_names() -> None:
    import fastmcp.server.auth.oidc_proxy as oidc_proxy
    import fastmcp.server.server as server

    assert oidc_proxy.logger.name == "fastmcp.server.auth.oidc_proxy", broken(
        "the OIDCProxy logger's name", "server/auth.build_auth silences it during discovery"
    )
    assert server.logger.name == "fastmcp.server.server", broken(
        "the FastMCP server logger's name", "server/logs filters tool-error records by it"
    )


def test_tool_error_log_level_and_dependencies() -> None:
    from fastmcp.exceptions import ToolError
    from fastmcp.server import dependencies

    error = ToolError("x", log_level=logging.DEBUG)
    assert getattr(error, "log_level", None) == logging.DEBUG, broken(
        "ToolError(log_level=...)", "server/errors.tool_error logs expected failures at DEBUG"
    )
    for name in ("get_access_token", "get_server"):
        assert callable(getattr(dependencies, name, None)), broken(
            f"fastmcp.server.dependencies.{name}", "server/clients and server/logs call it"
        )
