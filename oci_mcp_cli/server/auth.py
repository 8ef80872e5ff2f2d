"""The OAuth proxy in front of the MCP endpoint: FastMCP's ``OIDCProxy`` for the identity domain.

Why ``OIDCProxy`` and not ``OCIProvider``: OCIProvider cannot pass ``valid_scopes`` or
``extra_authorize_params``, and OCI issues a refresh token only when ``offline_access`` is
requested. ``extra_authorize_params={"scope": ...}`` is applied *after* the client's scopes
(fastmcp ``OAuthProxy._build_upstream_authorize_url``), so every upstream authorize request carries
``offline_access`` whatever the MCP client asked for. ``valid_scopes`` lets clients register those
scopes; ``required_scopes=["openid"]`` is what the domain's access token must carry. Like
OCIProvider we never send ``scope`` on the code exchange (the 4.x OAuthProxy default).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oci_mcp_cli.core.errors import RemoteError
from oci_mcp_cli.core.stores import fernet_file_store
from oci_mcp_cli.core.urls import discovery_url, jwks_url
from oci_mcp_cli.server.config import ServerSettings

if TYPE_CHECKING:
    from oci_mcp_cli.server.startup import Prefetch

LOGGER = logging.getLogger("oci_mcp.server")
REQUIRED_SCOPES = ["openid"]
VALID_SCOPES = ["openid", "profile", "email", "offline_access"]
UPSTREAM_SCOPE = " ".join(VALID_SCOPES)
VERIFIED_MEMO_SIZE = 4096  # verified access tokens remembered per process (LRU)


def signing_key_bytes(jwt_signing_key: str, prefetch: Prefetch | None = None) -> bytes:
    """The key FastMCP derives from a string ``jwt_signing_key`` (PBKDF2, done once here; by
    ``prefetch`` while the server imports, when given). FastMCP's own derivation is used when its
    iteration count is not the one :mod:`server.startup` assumes (its test mode, a new version)."""
    import fastmcp
    from fastmcp.server.auth import jwt_issuer

    from oci_mcp_cli.server import startup

    if jwt_issuer.KDF_ITERATIONS != startup.KDF_ITERATIONS or fastmcp.settings.test_mode:
        return jwt_issuer.derive_jwt_key(
            low_entropy_material=jwt_signing_key, salt=startup.SIGNING_KEY_SALT
        )
    if prefetch is not None:
        return prefetch.signing_key()
    return startup.derive_signing_key(jwt_signing_key)


def default_storage_dir(signing_key: bytes) -> Path:
    """The directory FastMCP itself would use: ``FASTMCP_HOME/oauth-proxy/<key fingerprint>``."""
    import hashlib

    import fastmcp

    digest = hashlib.sha256(_storage_fernet_key(signing_key)).hexdigest()[:12]
    return Path(fastmcp.settings.home) / "oauth-proxy" / digest


def _storage_fernet_key(signing_key: bytes) -> bytes:
    """The Fernet key FastMCP derives from the signing key for its default OAuth store."""
    from fastmcp.server.auth.jwt_issuer import derive_jwt_key

    return derive_jwt_key(
        high_entropy_material=signing_key.decode(), salt="fastmcp-storage-encryption-key"
    )


def private_dir(directory: Path, *, owned: bool) -> Path:
    """Create ``directory`` 0700; tighten an ``owned`` one, warn about a readable chosen one."""
    from oci_mcp_cli.core.files import ensure_private_dir

    ensure_private_dir(directory)
    if directory.stat().st_mode & 0o077:
        if owned:
            directory.chmod(0o700)
        else:
            LOGGER.warning(
                f"the OAuth state directory {directory} is accessible to other users; "
                f"run `chmod 700 {directory}`"
            )
    return directory


def encrypted_store(directory: Any, signing_key: bytes) -> Any:
    """FastMCP's own default store (Fernet-encrypted FileTreeStore) at a chosen location.

    The Fernet key is derived from the signing key exactly as FastMCP derives it for its default.
    """
    directory = private_dir(Path(directory), owned=False)
    return fernet_file_store(directory, _storage_fernet_key(signing_key))


def build_storage(settings: ServerSettings, signing_key: bytes) -> Any:
    """The proxy's ``client_storage``: Redis (``--storage redis://…``), a chosen directory, or
    FastMCP's own default location (the same layout and key FastMCP would use, in a 0700
    directory; culled by our culler). Every store is Fernet-encrypted with the key FastMCP
    derives from the signing key, so replicas sharing ``MCP_JWT_SIGNING_KEY`` read each other's
    entries and nobody else can, and sits behind a :class:`~oci_mcp_cli.server.storage.ReadCache`
    invalidated by every write on any replica."""
    from oci_mcp_cli.server.storage import (
        EPOCH_FILE,
        FileEpoch,
        GuardedStore,
        no_busy_polling_file_io,
        read_cache,
        redis_store,
    )

    if settings.storage_url:
        return read_cache(redis_store(settings.storage_url, _storage_fernet_key(signing_key)))
    no_busy_polling_file_io()
    if settings.storage_dir:
        directory = Path(settings.storage_dir)
        store = encrypted_store(directory, signing_key)
    else:
        directory = private_dir(default_storage_dir(signing_key), owned=True)
        store = fernet_file_store(directory, _storage_fernet_key(signing_key))
    epoch = FileEpoch(directory.resolve() / EPOCH_FILE)
    return read_cache(GuardedStore(store, label=directory.resolve().as_uri(), epoch=epoch))


def jwks_refused_message(url: str, status: int) -> str:
    """Why every sign-in ends in ``401 invalid_token`` when the JWKS refuses anonymous reads."""
    return (
        f"the identity domain's signing keys ({url}) are not publicly readable (HTTP {status}): "
        "signed-in MCP calls fail with 401 invalid_token — turn on 'Configure client access' "
        "(signingCertPublicAccess), e.g. re-run `oci-mcp init`; `oci-mcp doctor` checks it"
    )


class JwksWatch:
    """Event hook on the verifier's JWKS fetches: a refused or failing fetch is a WARNING that
    names the cause (FastMCP itself only logs it at DEBUG), and recovery is logged once."""

    def __init__(self) -> None:
        self.failing = False

    async def __call__(self, response: Any) -> None:
        url, status = str(response.request.url), response.status_code
        if status in (401, 403):
            LOGGER.warning(jwks_refused_message(url, status))
        elif status >= 400:
            LOGGER.warning(
                f"fetching the identity domain's signing keys ({url}) failed with HTTP {status}: "
                "signed-in MCP calls fail with 401 invalid_token until it answers again"
            )
        elif self.failing:
            LOGGER.warning(f"the identity domain's signing keys ({url}) are readable again")
        self.failing = status >= 400


def _proxy_class(jwks_retry_s: float, prefetch: Prefetch | None = None) -> Any:
    """``OIDCProxy`` whose upstream ``JWTVerifier`` reports JWKS failures (``JwksWatch``) and
    retries a failed key fetch after ``jwks_retry_s`` (FastMCP's default is 30 s), and that
    takes its discovery document from ``prefetch`` (fetched while the server imported)."""
    from fastmcp.server.auth.oidc_proxy import OIDCConfiguration, OIDCProxy

    from oci_mcp_cli.server.oauth_guard import OAuthGuardMixin
    from oci_mcp_cli.server.revocation import RevocationMixin

    class OciOIDCProxy(OAuthGuardMixin, RevocationMixin, OIDCProxy):  # type: ignore[misc]
        _verified: OrderedDict[str, tuple[Any, float, Any]] | None = None
        _verifying: dict[tuple[str, Any], asyncio.Future[Any]] | None = None

        async def load_access_token(self, token: str) -> Any:
            """The revocation-checked verification of ``token`` (FastMCP's token swap, the
            upstream JWT check, our revocation records), remembered while the store's epoch is
            unchanged — i.e. while no replica wrote anything: no revocation, refresh or sign-in
            — for at most the read cache's TTL and never near the upstream token's expiry (where
            FastMCP would refresh it). Same store state, same token, same answer; a refused
            token is never remembered.

            Concurrent requests with the same token under the same epoch share one
            verification (when the memo lapses under load, 50 requests in flight would
            otherwise each verify and read the store); a request that read a newer epoch — one
            that started after a write such as a revocation — never joins an older one. A
            request whose shared verification refused the token or failed verifies on its own
            (its own storage failures are then recorded for its own answer)."""
            from oci_mcp_cli.server.storage import ReadCache

            store = self._client_storage
            if not isinstance(store, ReadCache):
                return await super().load_access_token(token)
            if self._verified is None:
                self._verified, self._verifying = OrderedDict(), {}
            assert self._verifying is not None
            epoch = await store.current_epoch()
            now = time.monotonic()
            memo = self._verified.get(token)
            if memo is not None and memo[0] == epoch and memo[1] > now:
                return memo[2].model_copy()
            key = (token, epoch)
            pending = self._verifying.get(key)
            if pending is not None:
                shared = await asyncio.shield(pending)
                if shared is not None:
                    return shared.model_copy()
                return await super().load_access_token(token)
            pending = asyncio.get_running_loop().create_future()
            self._verifying[key] = pending
            validated = None
            try:
                validated = await super().load_access_token(token)
            finally:
                del self._verifying[key]
                pending.set_result(validated)
            if validated is not None:
                lifetime = min(store.ttl_s, _seconds_left(token, validated) - 1.0
                               - float(self._token_expiry_threshold_seconds or 0))
                if lifetime > 0:
                    self._verified[token] = (epoch, now + lifetime, validated.model_copy())
                    self._verified.move_to_end(token)
                    while len(self._verified) > VERIFIED_MEMO_SIZE:
                        self._verified.popitem(last=False)
            return validated

        def get_oidc_configuration(
            self, config_url: Any, strict: bool | None, timeout_seconds: int | None
        ) -> Any:
            """FastMCP's parsing of the prefetched document (its fetch's errors re-raised)."""
            if prefetch is None or str(config_url) != prefetch.discovery_url:
                return super().get_oidc_configuration(config_url, strict, timeout_seconds)
            data = prefetch.discovery()
            if strict is not None:
                data["strict"] = strict
            return OIDCConfiguration.model_validate(data)

        def get_token_verifier(
            self,
            *,
            algorithm: str | None = None,
            audience: str | None = None,
            required_scopes: list[str] | None = None,
            timeout_seconds: int | None = None,
        ) -> Any:
            import httpx2
            from fastmcp.server.auth.providers.jwt import JWTVerifier

            http = httpx2.AsyncClient(  # lives as long as the server; only JWKS fetches use it
                timeout=httpx2.Timeout(float(timeout_seconds or 10)),
                event_hooks={"response": [JwksWatch()]},
                verify=prefetch.tls_context() if prefetch is not None else True,
            )
            return JWTVerifier(
                jwks_uri=str(self.oidc_config.jwks_uri),
                issuer=str(self.oidc_config.issuer),
                algorithm=algorithm,
                audience=audience,
                required_scopes=required_scopes,
                http_client=http,
                jwks_refresh_interval=jwks_retry_s,
            )

    return OciOIDCProxy


def _seconds_left(token: str, validated: Any) -> float:
    """Seconds until the earlier of the FastMCP token's and the upstream token's expiry (both
    were just verified; the FastMCP JWT's ``exp`` is read from its already verified payload)."""
    import base64
    import json

    ends = [float(validated.expires_at)] if validated.expires_at else []
    try:
        payload = token.split(".")[1]
        exp = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"]
        ends.append(float(exp))
    except (IndexError, KeyError, TypeError, ValueError):
        return 0.0  # not a JWT we can read: do not remember it
    return min(ends) - time.time()


def build_auth(settings: ServerSettings, prefetch: Prefetch | None = None) -> Any:
    """The OIDCProxy; fetching the domain's discovery document (by ``prefetch``, when given)
    fails fast with the cause."""
    from oci_mcp_cli.server.oauth_guard import guard_config

    proxy_class = _proxy_class(settings.jwks_retry_s, prefetch)
    signing_key = signing_key_bytes(settings.jwt_signing_key, prefetch)
    storage = build_storage(settings, signing_key)
    url = discovery_url(settings.domain_url)
    quiet = logging.getLogger("fastmcp.server.auth.oidc_proxy")
    previous = quiet.disabled
    quiet.disabled = True  # it logs a traceback on a failed fetch; we raise one clear error
    try:
        return proxy_class(
            config_url=url,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            base_url=settings.server_url,
            redirect_path=settings.redirect_path,
            required_scopes=REQUIRED_SCOPES,
            valid_scopes=VALID_SCOPES,
            extra_authorize_params={"scope": UPSTREAM_SCOPE},
            jwt_signing_key=signing_key,
            client_storage=storage,
            require_authorization_consent=True,
            guard=guard_config(settings),
        )
    except Exception as exc:  # httpx2 / pydantic / ValueError: all mean "discovery unusable"
        raise RemoteError(
            f"cannot load the identity domain's discovery document {url}: "
            f"{exc.__class__.__name__}: {_first_line(exc)}",
            hint="check IAM_DOMAIN in .env and that the domain (or `oci-mcp sandbox`) is reachable",
        ) from None
    finally:
        quiet.disabled = previous


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else "no detail"


def check_jwks(settings: ServerSettings, prefetch: Prefetch | None = None) -> str | None:
    """Why sign-ins cannot be verified (the JWKS is not anonymously readable), or None if fine.

    Without public JWKS access every MCP call after sign-in is a bare ``401 invalid_token``; the
    server logs this reason at startup instead so the cause is not hidden at DEBUG. The response
    is ``prefetch``'s when given (fetched while the server imported).
    """
    import httpx2

    from oci_mcp_cli.core.tlscontext import httpx2_verify

    url = jwks_url(settings.domain_url)
    try:
        response = (prefetch.jwks_response() if prefetch
                    else httpx2.get(url, timeout=10, verify=httpx2_verify()))
    except httpx2.HTTPError as exc:
        return f"cannot fetch the identity domain's signing keys {url}: {exc.__class__.__name__}"
    if response.status_code in (401, 403):
        return jwks_refused_message(url, response.status_code)
    if response.status_code != 200:
        return f"the identity domain's signing keys {url} answered HTTP {response.status_code}"
    return None
