"""OAuth runtime data: sign-in transactions and auth codes (in memory), refresh tokens and revoked
token ids (in memory too, persisted by ``ctx.oauth``'s append log so they survive restarts)."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from oci_mcp_cli.sandbox.context import SandboxContext
from oci_mcp_cli.sandbox.ledger import OAuthLedger
from oci_mcp_cli.sandbox.oauth import tokens
from oci_mcp_cli.sandbox.oauth.errors import invalid_grant

SIGN_IN_TXN_TTL_S = 900
MAX_SIGN_IN_FAILURES = 5


@dataclass
class SignInTxn:
    """One rendering of the sign-in page: the validated authorize parameters, server-side."""

    txn: str
    guid: str
    params: dict[str, str]
    expires_at: float
    failures: int = 0


@dataclass
class AuthCode:
    code: str
    guid: str
    client_id: str
    redirect_uri: str
    user_id: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int
    sid: str
    expires_at: float
    used: bool = False
    # What the redemption issued (access token jti + exp, refresh token), revoked on a replay.
    issued_jti: str | None = None
    issued_exp: float = 0
    issued_refresh: str | None = None


class CodeReplayed(Exception):
    """A used code came back (RFC 6749 §4.1.2: revoke what it issued)."""

    def __init__(self, record: AuthCode):
        super().__init__("the authorization code has already been used")
        self.record = record


@dataclass
class OAuthRuntime:
    """Per-sandbox OAuth runtime; codes and sign-in transactions are short-lived and in memory."""

    ctx: SandboxContext
    _txns: dict[str, SignInTxn] = field(default_factory=dict)
    _codes: dict[str, AuthCode] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def new_txn(self, guid: str, params: dict[str, str]) -> str:
        txn = secrets.token_urlsafe(24)
        with self._lock:
            self._prune()
            self._txns[txn] = SignInTxn(txn, guid, dict(params), time.time() + SIGN_IN_TXN_TTL_S)
        return txn

    def get_txn(self, txn: str, guid: str) -> SignInTxn | None:
        with self._lock:
            found = self._txns.get(txn)
        if found is None or found.guid != guid or time.time() >= found.expires_at:
            return None
        return found

    def drop_txn(self, txn: str) -> bool:
        """Spend a transaction; False if it was already spent (one code per transaction)."""
        with self._lock:
            return self._txns.pop(txn, None) is not None

    def sign_in_failed(self, txn: str) -> bool:
        """Count a wrong password; True (and the transaction is spent) after too many."""
        with self._lock:
            found = self._txns.get(txn)
            if found is None:
                return True
            found.failures += 1
            if found.failures < MAX_SIGN_IN_FAILURES:
                return False
            del self._txns[txn]
            return True

    def issue_code(self, **fields: Any) -> str:
        code = "AQIDBA" + secrets.token_urlsafe(32)
        ttl = self.ctx.config.auth_code_ttl_s
        with self._lock:
            self._prune()
            self._codes[code] = AuthCode(code=code, expires_at=time.time() + ttl, **fields)
        return code

    def redeem_code(self, code: str, guid: str, client_id: str) -> AuthCode:
        """One-time, unexpired, issued in this domain to this client — else ``invalid_grant``
        (``CodeReplayed`` for a used code)."""
        with self._lock:
            found = self._codes.get(code)
            if found is None or found.guid != guid:
                raise invalid_grant("the authorization code is unknown")
            if found.used:
                raise CodeReplayed(found)
            found.used = True
        if found.client_id != client_id:
            raise invalid_grant("the authorization code was issued to another client")
        if time.time() >= found.expires_at:
            raise invalid_grant("the authorization code has expired")
        return found

    def _prune(self) -> None:
        now = time.time()
        # Used codes are kept until they expire so that a replay is reported as reuse.
        for store in (self._txns, self._codes):
            for key in [k for k, v in store.items() if now >= v.expires_at + 60]:
                del store[key]


# --- persisted: refresh tokens and revocations (ctx.oauth, an OAuthLedger) ---------------------


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def save_refresh_token(ledger: OAuthLedger, record: dict[str, Any]) -> str:
    """Store a refresh token record (guid, client_id, user_id, scope, sid, auth_time, family,
    at_jti/at_exp of the access token issued with it, exp); return the token."""
    token = "AQIDBAUw" + secrets.token_urlsafe(40)
    ledger.put_refresh(_digest(token), {**record, "used": False})
    return token


def find_refresh_token(ledger: OAuthLedger, token: str) -> dict[str, Any] | None:
    """The record of a refresh token — including a rotated-out one (``used``), for reuse
    detection; callers that want a live token check ``used`` and ``exp``."""
    return ledger.refresh.get(_digest(token))


def live_refresh_token(ledger: OAuthLedger, token: str, guid: str) -> dict[str, Any] | None:
    record = find_refresh_token(ledger, token)
    if record is None or record["guid"] != guid or record.get("used") or tokens.is_expired(record):
        return None
    return record


def spend_refresh_token(ledger: OAuthLedger, token: str) -> None:
    """Rotation: the token stays known (``used``) until it expires, so a replay is detected."""
    ledger.spend_refresh(_digest(token))


def delete_refresh_token(ledger: OAuthLedger, token: str) -> None:
    ledger.delete_refresh(_digest(token))


def revoke_refresh_family(ledger: OAuthLedger, family: str | None) -> None:
    """Delete every refresh token of one sign-in and revoke the access tokens issued with them."""
    if not family:
        return
    for key, record in [(k, r) for k, r in ledger.refresh.items() if r.get("family") == family]:
        if record.get("at_jti"):
            ledger.revoke(record["at_jti"], record.get("at_exp", record["exp"]))
        ledger.delete_refresh(key)


def revoke_issued(ledger: OAuthLedger, code: AuthCode) -> None:
    """Revoke what a (now replayed) authorization code issued."""
    if code.issued_jti:
        revoke_jti(ledger, code.issued_jti, code.issued_exp)
    if code.issued_refresh:
        record = find_refresh_token(ledger, code.issued_refresh)
        if record is not None:
            revoke_refresh_family(ledger, record.get("family"))


def revoke_jti(ledger: OAuthLedger, jti: str, exp: float) -> None:
    ledger.revoke(jti, exp)


def is_revoked(ledger: OAuthLedger, jti: str | None) -> bool:
    return bool(jti) and jti in ledger.revoked


def check_access_token(ds: tokens.DomainScope, token: str) -> dict[str, Any]:
    """A live access token of this domain: signature, issuer, tok_type AT, expiry, revocation,
    and (for a user token) an active user."""
    claims = ds.verify(token)
    if claims.get("tok_type") != "AT":
        raise tokens.TokenInvalid("the token is not an access token")
    if claims.get("tenant") != ds.domain.guid:
        raise tokens.TokenInvalid("the token was issued by another identity domain")
    if tokens.is_expired(claims):
        raise tokens.TokenInvalid("the token has expired")
    if is_revoked(ds.ctx.oauth, claims.get("jti")):
        raise tokens.TokenInvalid("the token has been revoked")
    if claims.get("sub_type") == "user":
        user = ds.domain.users.get(str(claims.get("user_id", "")))
        if user is None or not user.active:
            raise tokens.TokenInvalid("the token's user no longer exists or is not active")
    return claims
