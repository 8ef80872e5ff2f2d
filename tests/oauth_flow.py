"""Helpers for the sandbox OAuth tests: SDK provisioning and a real HTTP sign-in (httpx + the
HTML form). Imported by tests/test_sandbox_oauth*.py."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from oci_mcp_cli.core.ociconfig import identity_domains_client, load_oci_auth

APP_SCHEMA = "urn:ietf:params:scim:schemas:oracle:idcs:App"
TRUST_SCHEMA = "urn:ietf:params:scim:schemas:oracle:idcs:IdentityPropagationTrust"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ISSUER = "https://identity.oraclecloud.com/"


# --- provisioning through the real SDK (the admin profile the sandbox wrote) ---------------------


def domain_url(sb: Any, display_name: str = "Default") -> str:
    return next(d["url"] for d in sb.domains if d["display_name"] == display_name)


def password(sb: Any, username: str) -> str:
    return next(u["password"] for u in sb.users if u["username"] == username)


def claims(token: str) -> dict[str, Any]:
    """A JWT's claims, unverified (the tests inspect what the sandbox minted)."""
    import jwt

    return jwt.decode(token, options={"verify_signature": False})


def introspect(env: Any, token: str) -> dict[str, Any]:
    """RFC 7662 introspection of ``token`` as the module's web client (``env.web``)."""
    response = env.http.post(f"{env.url}/oauth2/v1/introspect", data={"token": token},
                             auth=(env.web.name, env.web.client_secret))
    assert response.status_code == 200, response.text
    return response.json()


def admin_domains_client(sb: Any, url: str) -> Any:
    return identity_domains_client(load_oci_auth(sb.config_file, sb.profile), url)


def create_app(idc: Any, display_name: str, *, redirect_uris: list[str], grants: list[str],
               all_url_schemes: bool = False, active: bool = True,
               allowed_operations: list[str] | None = None,
               client_type: str = "confidential") -> Any:
    """An OAuth client app (confidential unless ``client_type``); returns the SDK App
    (``.name`` = client id)."""
    from oci.identity_domains.models import App, AppBasedOnTemplate

    public = client_type == "public"
    template = "CustomBrowserMobileTemplateId" if public else "CustomWebAppTemplateId"
    app = App(
        schemas=[APP_SCHEMA],
        display_name=display_name,
        based_on_template=AppBasedOnTemplate(value=template),
        is_o_auth_client=True,
        client_type=client_type,
        allowed_grants=grants,
        redirect_uris=redirect_uris,
        all_url_schemes_allowed=all_url_schemes,
        allowed_operations=allowed_operations,
        active=active,
    )
    return idc.create_app(app=app).data


def create_trust(idc: Any, url: str, client_ids: list[str], **overrides: Any) -> Any:
    """The recommended stricter trust (reference §4.4); ``overrides`` are SDK attribute names."""
    from oci.identity_domains.models import IdentityPropagationTrust

    values: dict[str, Any] = {
        "schemas": [TRUST_SCHEMA], "name": "For Token Exchange", "type": "JWT", "issuer": ISSUER,
        "active": True, "public_key_endpoint": f"{url}/admin/v1/SigningCert/jwk",
        "subject_claim_name": "sub", "subject_mapping_attribute": "userName",
        "subject_type": "User", "client_claim_name": "client_id",
        "client_claim_values": list(client_ids), "allow_impersonation": False,
        "oauth_clients": list(client_ids),
    }
    values.update(overrides)
    trust = IdentityPropagationTrust(**values)
    return idc.create_identity_propagation_trust(identity_propagation_trust=trust).data


def patch(idc_call: Any, rid: str, path: str, value: Any) -> Any:
    """PATCH one attribute (plain-dict PatchOp, lowercase op, as oci-cli sends)."""
    body = {"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": path,
                                                      "value": value}]}
    return idc_call(rid, patch_op=body).data


def set_public_jwks(idc: Any, public: bool) -> None:
    patch(lambda rid, patch_op: idc.patch_setting(rid, patch_op=patch_op), "Settings",
          "signingCertPublicAccess", public)


# --- sign-in over HTTP ----------------------------------------------------------------------


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.error = ""
        self._in_error = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = a.get("action")
        elif tag == "input" and a.get("name"):
            self.fields[a["name"]] = a.get("value", "")
        elif a.get("role") == "alert":
            self._in_error = True

    def handle_endtag(self, tag: str) -> None:
        self._in_error = False

    def handle_data(self, data: str) -> None:
        if self._in_error:
            self.error += data


@dataclass
class Page:
    status: int
    action: str | None
    fields: dict[str, str]
    error: str
    html: str


def parse_page(response: httpx.Response) -> Page:
    parser = _FormParser()
    parser.feed(response.text)
    return Page(response.status_code, parser.action, parser.fields, parser.error, response.text)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class Client:
    """An OAuth client of one domain, driving the flows over real HTTP."""

    http: httpx.Client
    domain_url: str
    client_id: str
    client_secret: str
    redirect_uri: str
    verifier: str | None = None
    last: dict[str, str] = field(default_factory=dict)

    def authorize(self, *, scope: str = "openid", pkce: str | None = "S256",
                  **extra: str) -> httpx.Response:
        params = {"client_id": self.client_id, "response_type": "code",
                  "redirect_uri": self.redirect_uri, "scope": scope,
                  "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8)}
        if pkce:
            self.verifier, challenge = pkce_pair()
            if pkce == "plain":
                challenge = self.verifier
            params.update(code_challenge=challenge, code_challenge_method=pkce)
        params.update(extra)
        self.last = params
        return self.http.get(f"{self.domain_url}/oauth2/v1/authorize?{urlencode(params)}")

    def submit(self, page: Page, username: str, password: str) -> httpx.Response:
        assert page.action, page.html
        data = {**page.fields, "username": username, "password": password}
        return self.http.post(urljoin(self.domain_url + "/", page.action), data=data)

    def sign_in(self, username: str, password: str, **authorize: Any) -> str:
        """Authorize, fill in the form, return the code from the 302 to the redirect_uri."""
        page = parse_page(self.authorize(**authorize))
        assert page.status == 200, page.html
        response = self.submit(page, username, password)
        assert response.status_code == 302, response.text
        query = redirect_query(response)
        assert query["state"] == self.last["state"]
        return query["code"]

    def token(self, data: dict[str, str], *, basic: bool = True,
              secret: str | None = None) -> httpx.Response:
        secret = self.client_secret if secret is None else secret
        if basic:
            return self.http.post(f"{self.domain_url}/oauth2/v1/token", data=data,
                                  auth=(self.client_id, secret))
        body = {**data, "client_id": self.client_id, "client_secret": secret}
        return self.http.post(f"{self.domain_url}/oauth2/v1/token", data=body)

    def redeem(self, code: str, **overrides: str) -> httpx.Response:
        data = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": self.redirect_uri}
        if self.verifier:
            data["code_verifier"] = self.verifier
        data.update(overrides)
        return self.token(data)

    def login(self, username: str, password: str, **authorize: Any) -> dict[str, Any]:
        response = self.redeem(self.sign_in(username, password, **authorize))
        assert response.status_code == 200, response.text
        return response.json()


def redirect_query(response: httpx.Response) -> dict[str, str]:
    location = response.headers["location"]
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def session_public_key() -> str:
    """``public_key`` as TokenExchangeSigner sends it: base64 DER SubjectPublicKeyInfo."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def wait_past(epoch: float) -> None:
    """Let wall-clock time pass an expiry instant (sandbox TTLs are ≥ 1 s; nothing to poll)."""
    while time.time() < epoch:
        time.sleep(min(0.05, max(epoch - time.time(), 0.001)))
