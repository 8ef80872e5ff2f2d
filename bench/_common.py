"""What the benchmarks share: the test helpers (tests/oauth_flow.py: SDK provisioning + HTTP
sign-in) on ``sys.path``, and a sandbox provisioned for the token exchange."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import oauth_flow as flow  # noqa: E402  (test helpers: SDK provisioning + HTTP sign-in)

__all__ = ["ROOT", "flow", "exchange_app"]


def exchange_app(
    sb: Any, name: str, redirect: str, *, public_jwks: bool = False, **app_options: Any
) -> tuple[str, Any, str]:
    """An app that signs users in and exchanges their tokens (app + identity propagation trust,
    public JWKS access with ``public_jwks``), and alice signed in: (domain URL, the app, her
    access token)."""
    import httpx

    url = flow.domain_url(sb)
    idc = flow.admin_domains_client(sb, url)
    app = flow.create_app(idc, name, redirect_uris=[redirect],
                          grants=["authorization_code", "client_credentials"], **app_options)
    flow.create_trust(idc, url, [app.name])
    if public_jwks:
        flow.set_public_jwks(idc, True)
    with httpx.Client(timeout=30) as http:
        login = flow.Client(http, url, app.name, app.client_secret, redirect)
        token = login.login("alice", flow.password(sb, "alice"))["access_token"]
    return url, app, token
