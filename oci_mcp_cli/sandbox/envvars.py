"""The environment that sends a process's OCI traffic to a running sandbox (proxy, CA bundle, OCI
config variables), built from its ready line. Pure: no I/O, no sandbox imports (the runner and
``transparent`` both use it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from oci_mcp_cli.core.proxyenv import SANDBOX_CA, SANDBOX_PROXY

LOOPBACK_NO_PROXY = "127.0.0.1,localhost,::1"
# Every variable `env` sets, in print order (docs/sandbox.md explains each).
ENV_KEYS = (
    "HTTPS_PROXY",
    "https_proxy",
    "NO_PROXY",
    "no_proxy",
    "REQUESTS_CA_BUNDLE",
    "SSL_CERT_FILE",
    "CURL_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
    "OCI_CLI_CERT_BUNDLE",
    "OCI_CLI_CONFIG_FILE",
    "OCI_CONFIG_FILE",
    "OCI_CLI_PROFILE",
    SANDBOX_PROXY,
    SANDBOX_CA,
)


def transparent_env(info: dict[str, Any]) -> dict[str, str]:
    """Proxy, CA bundle and OCI config variables from a ready line (``Sandbox.info()``)."""
    proxy, ca_file = info["proxy_url"], info["ca_file"]
    config_file = str(Path(info["config_file"]).resolve())
    values = {
        "HTTPS_PROXY": proxy,
        "https_proxy": proxy,
        "NO_PROXY": LOOPBACK_NO_PROXY,
        "no_proxy": LOOPBACK_NO_PROXY,
        "REQUESTS_CA_BUNDLE": ca_file,
        "SSL_CERT_FILE": ca_file,
        "CURL_CA_BUNDLE": ca_file,
        "NODE_EXTRA_CA_CERTS": ca_file,
        "OCI_CLI_CERT_BUNDLE": ca_file,
        "OCI_CLI_CONFIG_FILE": config_file,
        "OCI_CONFIG_FILE": config_file,
        "OCI_CLI_PROFILE": str(info.get("transparent_profile") or "DEFAULT"),
        # which proxy / CA bundle are the sandbox's: installs leave them out (core/proxyenv.py)
        SANDBOX_PROXY: proxy,
        SANDBOX_CA: ca_file,
    }
    return {key: values[key] for key in ENV_KEYS}


def shell_exports(env: dict[str, str]) -> str:
    """``export KEY='value'`` lines (POSIX shell quoting)."""
    import shlex

    return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in env.items())
