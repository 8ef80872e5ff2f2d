"""Revocation that takes effect at once, on every replica: a mixin for the OAuth proxy class.

What FastMCP 4.2.3 does on ``POST /revoke`` (``OAuthProxy.revoke_token``): a refresh token's
metadata is deleted (so it cannot refresh again) and the upstream token is revoked at the identity
domain. Nothing else: the access token — FastMCP's or any other of the same sign-in — keeps
passing ``/mcp`` until it expires, because the upstream JWT is verified locally and the JTI mapping
is left to its TTL.

What this mixin adds, all recorded in the proxy's ``client_storage`` (shared by the replicas), so
the next request on any replica is refused with 401:

* **Access token revoked** → its JTI mapping is deleted (that token is dead for good), and the
  upstream access token behind it, which FastMCP also revokes at the domain, is recorded as
  revoked (``at:<sha256>``, kept until it expires): every FastMCP access token of that sign-in is
  refused until the client refreshes (the domain would refuse the UPST exchange for it anyway).
  The refresh token survives (RFC 7009 §2.1 leaves that to the server).
* **Refresh token revoked** → the whole sign-in (grant) ends: a grant record
  (``grant:<upstream token id>``, kept as long as any token of the grant could live) is written
  first, then FastMCP revokes the upstream refresh token at the domain (which revokes the domain
  tokens of that sign-in), then the upstream token set and the refresh token's JTI mapping are
  deleted. Every access token issued with it, and the refresh token, are refused.
* ``load_access_token`` refuses a token whose upstream access token or grant is recorded, so a
  replica that refreshed concurrently cannot bring a revoked sign-in back.

The ``/revoke`` route is rebuilt (same SDK handler, CORS and body limit) over a view that
identifies an access token by the FastMCP JWT alone — signature, expiry, audience, client — so a
revocation works while the domain or its JWKS is unreachable, and the mixin learns which FastMCP
token (``jti``) is revoked. FastMCP's own view hands over only the upstream token.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from fastmcp.server.auth.auth import AccessToken
from fastmcp.server.auth.oauth_proxy.revocation import RevocationProvider
from joserfc.errors import JoseError
from key_value.aio.adapters.pydantic import PydanticAdapter
from mcp.server.auth.provider import AccessToken as McpAccessToken
from mcp.server.auth.provider import RefreshToken
from pydantic import BaseModel

LOGGER = logging.getLogger("oci_mcp.server")
REVOCATIONS = "oci-mcp-revocations"
_FALLBACK_TTL_S = 3600


class Revocation(BaseModel):
    """A tombstone: what was revoked and when (the key says which token or grant)."""

    kind: str  # "access" | "grant"
    revoked_at: float


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _ttl(until: float | None, fallback: float = _FALLBACK_TTL_S) -> int:
    """Seconds until ``until`` (at least 1): how long a tombstone must outlive its token."""
    remaining = (until - time.time()) if until else fallback
    return max(int(remaining) + 1, 1)


class _RevocationView(RevocationProvider):
    """FastMCP's revocation view, but an access token is identified by the FastMCP JWT only.

    The SDK handler revokes a token when a loader returns it and its ``client_id`` is the
    authenticated client; the ``AccessToken`` returned here carries the FastMCP JWT itself, which
    :meth:`RevocationMixin.revoke_token` resolves to its ``jti`` and upstream token set.
    """

    async def load_access_token(self, token: str) -> McpAccessToken | None:
        proxy: Any = self._proxy
        payload = proxy._fastmcp_access_payload(token)
        if payload is None:
            return await super().load_access_token(token)  # e.g. an ID-JAG token
        client_id = payload.get("client_id")
        if not isinstance(client_id, str) or not client_id:
            return None
        scope = payload.get("scope") or ""
        return AccessToken(
            token=token,
            client_id=client_id,
            scopes=scope.split(),
            expires_at=int(payload["exp"]) if payload.get("exp") else None,
        )


class RevocationMixin:
    """Put before ``OIDCProxy`` in the bases of the proxy class (see the module docstring)."""

    _revocation_store: PydanticAdapter[Revocation] | None = None

    # --- storage ---------------------------------------------------------------------------

    @property
    def _revocations(self) -> PydanticAdapter[Revocation]:
        if self._revocation_store is None:
            self._revocation_store = PydanticAdapter[Revocation](
                key_value=self._client_storage,  # type: ignore[attr-defined]
                pydantic_model=Revocation,
                default_collection=REVOCATIONS,
                raise_on_validation_error=False,
            )
        return self._revocation_store

    async def _record(self, key: str, kind: str, ttl: int) -> None:
        await self._revocations.put(
            key=key, value=Revocation(kind=kind, revoked_at=time.time()), ttl=ttl
        )

    def _fastmcp_access_payload(self, token: str) -> dict[str, Any] | None:
        """The claims of a valid FastMCP access JWT (not an ID-JAG one), else None."""
        try:
            payload = self.jwt_issuer.verify_token(token)  # type: ignore[attr-defined]
        except (JoseError, ValueError, KeyError):
            return None
        if payload.get("fastmcp_grant") or not isinstance(payload.get("jti"), str):
            return None
        return payload

    def _grant_ttl(self, token_set: Any) -> int:
        """How long any token of this grant can live: the upstream set's own lifetime."""
        extra = getattr(self, "_fastmcp_access_token_expiry_seconds", None) or 0
        until = max(
            token_set.refresh_token_expires_at or 0,
            token_set.expires_at or 0,
            time.time() + extra,
        )
        return _ttl(until)

    # --- routes ------------------------------------------------------------------------------

    def get_routes(self, mcp_path: str | None = None) -> list[Any]:
        """FastMCP's routes with ``/revoke`` rebuilt over :class:`_RevocationView`."""
        from mcp.server.auth.routes import create_auth_routes
        from starlette.routing import Route

        routes = super().get_routes(mcp_path)  # type: ignore[misc]
        replacement = next(
            (
                r
                for r in create_auth_routes(
                    provider=_RevocationView(self),  # type: ignore[arg-type]
                    issuer_url=self.base_url,  # type: ignore[attr-defined]
                    revocation_options=self.revocation_options,  # type: ignore[attr-defined]
                )
                if isinstance(r, Route) and r.path == "/revoke"
            ),
            None,
        )
        if replacement is None:
            return routes
        return [
            replacement if isinstance(r, Route) and r.path == "/revoke" else r for r in routes
        ]

    # --- revocation --------------------------------------------------------------------------

    def _revoked(self, kind: str, client_id: Any, upstream: str | None) -> None:
        """Report a ``revocation`` event (``kind``: access | grant) for the user of the
        upstream access token ``upstream`` (when known)."""
        from oci_mcp_cli.server.oauth_guard import jwt_claims
        from oci_mcp_cli.server.telemetry import DISABLED, REVOCATION, user_fields

        telemetry = getattr(self, "telemetry", DISABLED)
        if not telemetry.active:
            return
        user, user_ocid, domain = user_fields(jwt_claims(upstream) if upstream else {})
        telemetry.event(
            REVOCATION, revoked=kind, client_id=client_id, user=user, user_ocid=user_ocid,
            domain=domain,
        )

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        if isinstance(token, RefreshToken):
            await self._revoke_grant(token)
            return
        payload = self._fastmcp_access_payload(token.token)
        if payload is None:  # an upstream access token (FastMCP's own revocation view)
            await self._record(f"at:{_digest(token.token)}", "access", _ttl(token.expires_at))
            await super().revoke_token(token)  # type: ignore[misc]
            self._revoked("access", token.client_id, token.token)
            return
        jti = payload["jti"]
        mapping = await self._jti_mapping_store.get(key=jti)  # type: ignore[attr-defined]
        token_set = (
            await self._upstream_token_store.get(key=mapping.upstream_token_id)  # type: ignore[attr-defined]
            if mapping is not None
            else None
        )
        await self._jti_mapping_store.delete(key=jti)  # type: ignore[attr-defined]
        LOGGER.info(f"revoked an access token (jti {jti[:8]}…)")
        self._revoked("access", token.client_id, token_set.access_token if token_set else None)
        if token_set is None:
            return
        upstream = token_set.access_token
        await self._record(f"at:{_digest(upstream)}", "access", _ttl(token_set.expires_at))
        await super().revoke_token(  # type: ignore[misc]  # FastMCP: revoke it at the domain
            AccessToken(
                token=upstream,
                client_id=token.client_id,
                scopes=token.scopes,
                expires_at=int(token_set.expires_at),
            )
        )

    async def _revoke_grant(self, token: RefreshToken) -> None:
        token_set, refresh_jti = None, None
        try:
            payload = self.jwt_issuer.verify_token(  # type: ignore[attr-defined]
                token.token, expected_token_use="refresh"
            )
            refresh_jti = payload["jti"]
        except (JoseError, ValueError, KeyError):
            payload = None
        mapping = (
            await self._jti_mapping_store.get(key=refresh_jti)  # type: ignore[attr-defined]
            if refresh_jti
            else None
        )
        if mapping is not None:
            token_set = await self._upstream_token_store.get(  # type: ignore[attr-defined]
                key=mapping.upstream_token_id
            )
        if token_set is not None:  # the tombstones first: they hold even if the rest fails
            ttl = self._grant_ttl(token_set)
            await self._record(f"grant:{token_set.upstream_token_id}", "grant", ttl)
            await self._record(
                f"at:{_digest(token_set.access_token)}", "access", _ttl(token_set.expires_at)
            )
        # FastMCP: drop the refresh metadata, revoke the upstream refresh token at the domain.
        await super().revoke_token(token)  # type: ignore[misc]
        if refresh_jti:
            await self._jti_mapping_store.delete(key=refresh_jti)  # type: ignore[attr-defined]
        if token_set is not None:
            await self._upstream_token_store.delete(  # type: ignore[attr-defined]
                key=token_set.upstream_token_id
            )
            self._revoked("grant", token.client_id, token_set.access_token)
            LOGGER.info(
                f"revoked a refresh token and its sign-in (grant "
                f"{token_set.upstream_token_id[:8]}…): its access tokens are refused"
            )

    # --- enforcement -------------------------------------------------------------------------

    async def load_access_token(self, token: str) -> AccessToken | None:
        validated = await super().load_access_token(token)  # type: ignore[misc]
        if validated is None:
            return None
        keys = [f"at:{_digest(validated.token)}"]
        payload = self._fastmcp_access_payload(token)
        if payload is not None:
            mapping = await self._jti_mapping_store.get(key=payload["jti"])  # type: ignore[attr-defined]
            if mapping is None:  # revoked while this request was being verified
                return None
            keys.append(f"grant:{mapping.upstream_token_id}")
        found = await self._revocations.get_many(keys=keys)
        if any(record is not None for record in found):
            LOGGER.info("refused a revoked access token")
            return None
        return validated
