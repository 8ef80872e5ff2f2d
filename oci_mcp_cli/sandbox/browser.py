"""A browser for transparent mode (``oci-mcp sandbox browser``): a dedicated Chromium/Chrome
profile that trusts the sandbox CA and reaches the real OCI hostnames through the sandbox's
``CONNECT`` proxy, so a sign-in page on ``idcs-<guid>.identity.oraclecloud.com`` loads instead of
stopping at ``ERR_CERT_AUTHORITY_INVALID``.

Chromium on Linux takes extra trust anchors from the NSS database in ``$HOME/.pki/nssdb`` — not
from ``--user-data-dir``, not from ``SSL_CERT_FILE``. So the profile is a directory the browser
runs with as its ``HOME``: ``<profile>/.pki/nssdb`` holds the sandbox CA (added with NSS's
``certutil``, Debian package ``libnss3-tools``) and ``<profile>/chromium`` is the user data dir.
Neither the user's own browser profile nor the system trust store is touched. Loopback (an MCP
server on 127.0.0.1) bypasses the proxy (Chromium's implicit ``<-loopback>`` rule); every other
host is refused by the sandbox proxy, by design.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oci_mcp_cli.core.errors import OciMcpError, UserError
from oci_mcp_cli.core.files import ensure_private_dir

#: Looked up on PATH in this order when ``--browser`` is not given.
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CA_NICKNAME = "oci-mcp sandbox CA"
PROFILE_DIR = "browser"  # default profile: <state dir>/browser
CERTUTIL_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class BrowserLaunch:
    """The browser command and the variables to set for it (only ``HOME``)."""

    argv: list[str]
    env: dict[str, str]

    def shell(self) -> str:
        """One POSIX shell line: ``HOME=… chromium …``."""
        assigns = [f"{key}={shlex.quote(value)}" for key, value in self.env.items()]
        return " ".join([*assigns, *(shlex.quote(arg) for arg in self.argv)])


def find_browser(name: str | None) -> str:
    """The executable for ``name`` (a path or a command), else the first Chromium/Chrome on PATH."""
    for candidate in (name,) if name else BROWSERS:
        found = shutil.which(candidate)
        if found:
            return found
    if name:
        raise UserError(
            f"--browser {name!r}: no such executable",
            hint="give the path of a Chromium or Chrome executable",
        )
    raise UserError(
        "no Chromium or Chrome found on PATH (looked for " + ", ".join(BROWSERS) + ")",
        hint="install one (Debian/Ubuntu: apt-get install chromium) or pass --browser PATH",
    )


def trust_ca(profile: Path, ca_file: str | Path) -> Path:
    """Make ``<profile>/.pki/nssdb`` (created if needed, 0700) trust ``ca_file`` for TLS servers;
    run again after the CA changed, it replaces the old one. Returns the database directory."""
    certutil = shutil.which("certutil")
    if certutil is None:
        raise UserError(
            "certutil (NSS tools) is not installed: it adds the sandbox CA to the browser "
            "profile's certificate database",
            hint="install it (Debian/Ubuntu: apt-get install libnss3-tools; Fedora: nss-tools)",
        )
    nssdb = ensure_private_dir(profile / ".pki" / "nssdb")
    database = f"sql:{nssdb}"
    if not (nssdb / "cert9.db").exists():
        _certutil(certutil, "-N", "-d", database, "--empty-password")
    _certutil(certutil, "-D", "-d", database, "-n", CA_NICKNAME, check=False)
    _certutil(certutil, "-A", "-d", database, "-n", CA_NICKNAME, "-t", "C,,", "-i", str(ca_file))
    return nssdb


def _certutil(*argv: str, check: bool = True) -> None:
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=CERTUTIL_TIMEOUT_S, check=False
    )
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise OciMcpError(
            f"certutil {argv[1]} failed (exit {result.returncode}): "
            + (detail[-1] if detail else "no output"),
            hint=f"check that {argv[3].removeprefix('sql:')} is writable, or pass another "
            "--profile",
        )


def browser_launch(
    info: Mapping[str, Any],
    *,
    profile: Path | None = None,
    browser: str | None = None,
    args: Sequence[str] = (),
) -> BrowserLaunch:
    """Prepare the profile for the sandbox of ``info`` (its ready line) and return the command
    that runs ``browser`` on it with ``args`` (URLs, more flags)."""
    executable = find_browser(browser)
    folder = (profile or Path(info["state_dir"]) / PROFILE_DIR).expanduser().resolve()
    trust_ca(ensure_private_dir(folder), info["ca_file"])
    argv = [
        executable,
        f"--user-data-dir={folder / 'chromium'}",
        f"--proxy-server={info['proxy_url']}",
        "--no-first-run",
        "--no-default-browser-check",
        *args,
    ]
    return BrowserLaunch(argv=argv, env={"HOME": str(folder)})
