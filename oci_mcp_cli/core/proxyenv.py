"""The environment for a process that must reach the real internet (``pip install``) when ours
runs under the sandbox's transparent mode (``oci-mcp sandbox exec`` / ``env``).

That mode sets a proxy that reaches only OCI's hostnames and CA bundles that trust only the
sandbox, and marks both with :data:`SANDBOX_PROXY` / :data:`SANDBOX_CA`. A proxy or CA bundle
set by anyone else (a corporate proxy) is kept.
"""

from __future__ import annotations

from collections.abc import Mapping

SANDBOX_PROXY = "OCI_MCP_SANDBOX_PROXY"
SANDBOX_CA = "OCI_MCP_SANDBOX_CA"
PROXY_KEYS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
CA_KEYS = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE", "PIP_CERT")


def direct_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without the sandbox's proxy and CA bundle variables (and their markers)."""
    env = dict(environ)
    for marker, keys in ((SANDBOX_PROXY, PROXY_KEYS), (SANDBOX_CA, CA_KEYS)):
        value = env.pop(marker, None)
        for key in keys:
            if value and env.get(key) == value:
                del env[key]
    return env
