"""The comparison servers of ``bench_e2e.py``.

- ``python bench/e2e_apps.py floor --port P --config FILE --profile NAME`` — **B, the floor**:
  plain FastMCP, no auth, the same ``get_namespace`` tool (sync, run in FastMCP's worker
  threads) with a static API-key signer and one ``ObjectStorageClient`` built at start-up.
- ``oci-mcp serve --app bench/e2e_apps.py:percall`` — **C, a new signer per call** (the pattern
  of Oracle's own MCP servers): the tool ``get_namespace_percall`` builds a
  ``TokenExchangeSigner`` (RSA key generation + a token exchange) and a client on every call.
  The domain and client credentials come from the ``.env`` named by ``BENCH_ENV_FILE``.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from fastmcp import FastMCP

percall = FastMCP("bench-percall")


@percall.tool
def get_namespace_percall(region: str | None = None) -> dict[str, Any]:
    """Object Storage namespace, with a new TokenExchangeSigner and client for this call."""
    from pathlib import Path

    from fastmcp.server.dependencies import get_access_token
    from oci.auth.signers import TokenExchangeSigner
    from oci.object_storage import ObjectStorageClient

    from oci_mcp_cli.server.config import load_settings

    settings = load_settings(Path(os.environ["BENCH_ENV_FILE"]))
    token = get_access_token()
    assert token is not None
    signer = TokenExchangeSigner(
        token.token,
        settings.domain_url,
        settings.exchange_client_id,
        settings.exchange_client_secret,
    )
    client = ObjectStorageClient(
        {"region": region or settings.region or "us-ashburn-1"},
        signer=signer,
        service_endpoint=settings.service_endpoint,
    )
    return {"namespace": client.get_namespace().data}


def floor(port: int, config_file: str, profile: str) -> None:
    import oci
    from oci.object_storage import ObjectStorageClient

    config = oci.config.from_file(config_file, profile)
    client = ObjectStorageClient(config, service_endpoint=config.get("oci_mcp_endpoint"))
    mcp = FastMCP("bench-floor")

    @mcp.tool
    def get_namespace(region: str | None = None) -> dict[str, Any]:
        """Object Storage namespace, with the one static API-key client."""
        return {"namespace": client.get_namespace().data}

    mcp.run(
        transport="http", host="127.0.0.1", port=port, log_level="warning", show_banner=False
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["floor"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--profile", required=True)
    args = parser.parse_args()
    floor(args.port, args.config, args.profile)


if __name__ == "__main__":
    main()
