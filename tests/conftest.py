"""Shared fixtures: a fresh sandbox per test, a session guard against leaked sandboxes, UPSTs."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

SANDBOX_THREAD = "oci-mcp-sandbox"


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Any]:
    """A running sandbox with fresh state in a temp dir (function scope)."""
    from oci_mcp_cli.sandbox import Sandbox

    with Sandbox(state_dir=tmp_path / "sandbox-state") as sb:
        yield sb


@pytest.fixture(autouse=True, scope="session")
def _no_leaked_sandboxes() -> Iterator[None]:
    """Fail the session if a test left a sandbox server thread running."""
    yield
    leaked = [t.name for t in threading.enumerate() if t.name == SANDBOX_THREAD and t.is_alive()]
    assert not leaked, f"{len(leaked)} sandbox server thread(s) still running after the session"


def mint_upst(sb: Any, username: str, *, ttl_s: int = 3600) -> tuple[str, Any]:
    """A UPST for ``username`` signed with the sandbox's upst key, plus the session private key.

    Tests of the ``ST$`` signature path use this so they do not depend on the OAuth token
    exchange (tested separately through the real TokenExchangeSigner); the claim set is the one
    the exchange mints (docs/sandbox.md).
    """
    import jwt

    from oci_mcp_cli.sandbox import keys

    state = sb.ctx.store.state
    domain, user = next(
        (d, u) for d in state.domains.values() for u in d.users.values() if u.user_name == username
    )
    upst_key = keys.load_private_pem(sb.ctx.store.read_file(state.upst_key_file))
    session_key = keys.new_rsa_key()
    jwk = {**keys.rsa_jwk(session_key), "kid": uuid.uuid4().hex, "alg": "RS256", "use": "sig"}
    now = int(time.time())
    claims = {
        "sub": user.ocid,
        "tenant": state.tenancy_id,
        "iss": "authService.oracle.com",
        "iat": now,
        "exp": now + ttl_s,
        "jti": str(uuid.uuid4()),
        "ptype": "user",
        "domain_name": domain.guid,
        "jwk": json.dumps(jwk),
    }
    return jwt.encode(claims, upst_key, algorithm="RS256"), session_key


@pytest.fixture
def user_client() -> Callable[..., Any]:
    """``user_client(sb, "alice", oci.identity.IdentityClient)``: a regional client as a user."""

    def build(sb: Any, username: str, client_cls: Any, *, ttl_s: int = 3600) -> Any:
        import oci

        token, session_key = mint_upst(sb, username, ttl_s=ttl_s)
        signer = oci.auth.signers.SecurityTokenSigner(token, session_key)
        return client_cls(
            {"region": "us-ashburn-1"},
            signer=signer,
            service_endpoint=sb.url,
            retry_strategy=oci.retry.NoneRetryStrategy(),
        )

    return build
