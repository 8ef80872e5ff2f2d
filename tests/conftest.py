"""Shared fixtures: a fresh sandbox per test, one per module (``sb``), a session guard against
leaked sandboxes, UPSTs."""

from __future__ import annotations

import threading
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


@pytest.fixture(scope="module", name="sb")
def module_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """``sb``: one running sandbox shared by a module's tests (for tests that don't interfere).

    Modules that need more around it (an HTTP client, provisioned apps) define their own.
    """
    from oci_mcp_cli.sandbox import Sandbox

    with Sandbox(state_dir=tmp_path_factory.mktemp("sandbox")) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def config(sb: Any) -> dict[str, Any]:
    """The admin API-key profile the module's sandbox wrote, as an SDK config dict."""
    import oci

    return oci.config.from_file(sb.config_file, sb.profile)


@pytest.fixture(autouse=True, scope="session")
def _no_leaked_sandboxes() -> Iterator[None]:
    """Fail the session if a test left a sandbox server thread running."""
    yield
    leaked = [t.name for t in threading.enumerate() if t.name == SANDBOX_THREAD and t.is_alive()]
    assert not leaked, f"{len(leaked)} sandbox server thread(s) still running after the session"


def mint_upst(sb: Any, username: str, *, ttl_s: int = 3600) -> tuple[str, Any]:
    """A UPST for ``username`` minted by the sandbox, plus the session private key.

    Tests of the ``ST$`` signature path use this so they do not depend on the OAuth token
    exchange (tested separately through the real TokenExchangeSigner); the token comes from the
    exchange's own minting code (``sandbox.hooks.mint_session_token``), so the claim set is the
    one the exchange mints (docs/sandbox.md). ``ttl_s <= 0`` gives an expired token.
    """
    from oci_mcp_cli.sandbox import keys
    from oci_mcp_cli.sandbox.hooks import mint_session_token

    session_key = keys.new_rsa_key()
    return mint_session_token(sb.ctx, username, session_key.public_key(), ttl_s), session_key


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
