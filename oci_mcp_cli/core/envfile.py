"""The one owner of the ``.env`` schema: key names, aliases, validation, atomic save.

Every command reads and writes ``.env`` through this module. Keys use the seed sample's names
(``IAM_*``); the later sample's and oracle/mcp's ``IDCS_*`` names are accepted when reading.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from oci_mcp_cli.core.errors import UserError
from oci_mcp_cli.core.files import backup_file, write_private
from oci_mcp_cli.core.urls import normalize_domain_url, normalize_server_url

# Connection keys (what `serve` needs).
IAM_DOMAIN = "IAM_DOMAIN"
IAM_GUID = "IAM_GUID"
IAM_CLIENT_ID = "IAM_CLIENT_ID"
IAM_CLIENT_SECRET = "IAM_CLIENT_SECRET"
IAM_TOKENEXCHANGE_CLIENT_ID = "IAM_TOKENEXCHANGE_CLIENT_ID"
IAM_TOKENEXCHANGE_CLIENT_SECRET = "IAM_TOKENEXCHANGE_CLIENT_SECRET"
MCP_SERVER_URL = "MCP_SERVER_URL"
MCP_REDIRECT_PATH = "MCP_REDIRECT_PATH"
MCP_JWT_SIGNING_KEY = "MCP_JWT_SIGNING_KEY"
OCI_REGION = "OCI_REGION"
# Where the admin credentials came from, and the service endpoint override (sandbox).
OCI_CONFIG_FILE = "OCI_CONFIG_FILE"
OCI_PROFILE = "OCI_PROFILE"
OCI_SERVICE_ENDPOINT = "OCI_SERVICE_ENDPOINT"
# What `init` / `trust create` provisioned, so `teardown` can reverse exactly that.
OCI_MCP_APP_ID = "OCI_MCP_APP_ID"
OCI_MCP_EXCHANGE_APP_ID = "OCI_MCP_EXCHANGE_APP_ID"
OCI_MCP_TRUST_ID = "OCI_MCP_TRUST_ID"
OCI_MCP_TRUST_CREATED = "OCI_MCP_TRUST_CREATED"
OCI_MCP_JWKS_OPENED = "OCI_MCP_JWKS_OPENED"

SECRET_KEYS = frozenset({IAM_CLIENT_SECRET, IAM_TOKENEXCHANGE_CLIENT_SECRET, MCP_JWT_SIGNING_KEY})
SERVER_REQUIRED_KEYS = (
    IAM_DOMAIN,
    IAM_CLIENT_ID,
    IAM_CLIENT_SECRET,
    MCP_SERVER_URL,
    MCP_JWT_SIGNING_KEY,
)
PROVISIONED_KEYS = (
    IAM_DOMAIN,
    IAM_GUID,
    IAM_CLIENT_ID,
    IAM_CLIENT_SECRET,
    IAM_TOKENEXCHANGE_CLIENT_ID,
    IAM_TOKENEXCHANGE_CLIENT_SECRET,
    MCP_SERVER_URL,
    MCP_REDIRECT_PATH,
    MCP_JWT_SIGNING_KEY,
    OCI_REGION,
    OCI_CONFIG_FILE,
    OCI_PROFILE,
    OCI_SERVICE_ENDPOINT,
    OCI_MCP_APP_ID,
    OCI_MCP_EXCHANGE_APP_ID,
    OCI_MCP_TRUST_ID,
    OCI_MCP_TRUST_CREATED,
    OCI_MCP_JWKS_OPENED,
)
# Read-only aliases: alias -> canonical key.
ALIASES = {
    "IDCS_DOMAIN": IAM_DOMAIN,
    "IDCS_CLIENT_ID": IAM_CLIENT_ID,
    "IDCS_CLIENT_SECRET": IAM_CLIENT_SECRET,
}
DEFAULT_REDIRECT_PATH = "/auth/callback"
DEFAULT_ENV_FILE = Path(".env")

_LINE_RE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")


def mask(value: str | None, show: bool = False) -> str:
    """Mask a secret for display: keep a 4-character prefix hint only when it is long enough."""
    if value is None:
        return ""
    if show:
        return value
    if len(value) < 12:
        return "****"
    return value[:4] + "…" + "*" * 4


@dataclass
class EnvFile:
    """The parsed contents of a ``.env`` file (canonical key names) and where it lives."""

    path: Path
    values: dict[str, str] = field(default_factory=dict)
    exists: bool = False

    def get(self, key: str, default: str | None = None) -> str | None:
        value = self.values.get(key)
        return value if value not in (None, "") else default

    def require(self, keys: Iterable[str] = SERVER_REQUIRED_KEYS) -> None:
        """Raise one clear UserError naming every missing or invalid key."""
        if not self.exists:
            raise UserError(
                f"{self.path} does not exist",
                hint="run `oci-mcp init` to provision the identity domain and write it",
            )
        missing = [key for key in keys if not self.get(key)]
        if missing:
            raise UserError(
                f"{self.path} is missing {', '.join(missing)}",
                hint="run `oci-mcp init` to write a complete .env",
            )
        self.validate()

    def validate(self) -> None:
        """Check the values that are present (URL forms, redirect path)."""
        problems: list[str] = []
        for key, check in (
            (IAM_DOMAIN, normalize_domain_url),
            (MCP_SERVER_URL, normalize_server_url),
        ):
            value = self.get(key)
            if value:
                try:
                    check(value)
                except UserError as exc:
                    problems.append(f"{key}: {exc.message}")
        path = self.get(MCP_REDIRECT_PATH)
        if path and not path.startswith("/"):
            problems.append(f"{MCP_REDIRECT_PATH}: must start with '/' (got {path!r})")
        if problems:
            raise UserError(
                f"{self.path} has invalid values: " + "; ".join(problems),
                hint="fix the values or re-run `oci-mcp init`",
            )

    # Typed accessors with defaults used by several commands.
    @property
    def domain_url(self) -> str:
        return normalize_domain_url(self.values[IAM_DOMAIN])

    @property
    def server_url(self) -> str:
        return normalize_server_url(self.get(MCP_SERVER_URL, "http://localhost:8000") or "")

    @property
    def redirect_path(self) -> str:
        return self.get(MCP_REDIRECT_PATH, DEFAULT_REDIRECT_PATH) or DEFAULT_REDIRECT_PATH

    @property
    def exchange_client_id(self) -> str | None:
        return self.get(IAM_TOKENEXCHANGE_CLIENT_ID) or self.get(IAM_CLIENT_ID)

    @property
    def exchange_client_secret(self) -> str | None:
        return self.get(IAM_TOKENEXCHANGE_CLIENT_SECRET) or self.get(IAM_CLIENT_SECRET)


def _parse(text: str) -> dict[str, str]:
    from io import StringIO

    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(stream=StringIO(text)).items() if v is not None}


def load_env(path: Path | str = DEFAULT_ENV_FILE) -> EnvFile:
    """Read ``path`` (missing file = empty). Aliases are mapped onto canonical names."""
    path = Path(path)
    if not path.exists():
        return EnvFile(path=path, values={}, exists=False)
    try:
        raw = _parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from exc
    values = dict(raw)
    for alias, canonical in ALIASES.items():
        if alias in raw and not values.get(canonical):
            values[canonical] = raw[alias]
    return EnvFile(path=path, values=values, exists=True)


def _quote(value: str) -> str:
    if value == "" or re.fullmatch(r"[A-Za-z0-9_./:@%+,=\-]+", value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def render_env(existing_text: str, updates: Mapping[str, str], remove: Iterable[str] = ()) -> str:
    """Rewrite ``existing_text``: update keys in place, append new ones, drop ``remove``.

    Comments, blank lines and unknown keys are kept as they were.
    """
    drop = set(remove) - set(updates)
    pending = dict(updates)
    out: list[str] = []
    for line in existing_text.splitlines():
        match = _LINE_RE.match(line)
        key = match.group(1) if match else None
        if key in drop:
            continue
        if key is not None and key in pending:
            out.append(f"{key}={_quote(pending.pop(key))}")
            continue
        out.append(line)
    if pending:
        if out and out[-1].strip():
            out.append("")
        if not existing_text.strip():
            out.append(
                "# Written by oci-mcp. Keep this file private (mode 0600); it holds secrets."
            )
        out.extend(f"{key}={_quote(value)}" for key, value in pending.items())
    return "\n".join(out) + "\n"


def save_env(
    path: Path | str,
    updates: Mapping[str, str],
    *,
    remove: Iterable[str] = (),
) -> Path | None:
    """Atomically write ``updates`` to ``path`` (0600), keeping unknown keys; back up the old file.

    Returns the backup path, or None when there was no previous file.
    """
    path = Path(path)
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    backup = backup_file(path)
    write_private(path, render_env(existing, updates, remove))
    return backup
