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
# Where `serve` keeps the OAuth state: file:///path (default) or redis[s]://… (replicas).
OCI_MCP_STORAGE = "OCI_MCP_STORAGE"
# `serve`'s Prometheus metrics listener (docs/operations.md "Metrics"): a port or off; its host.
OCI_MCP_METRICS_PORT = "OCI_MCP_METRICS_PORT"
OCI_MCP_METRICS_HOST = "OCI_MCP_METRICS_HOST"
# What `init` / `trust create` provisioned, so `teardown` can reverse exactly that.
OCI_MCP_APP_ID = "OCI_MCP_APP_ID"
OCI_MCP_EXCHANGE_APP_ID = "OCI_MCP_EXCHANGE_APP_ID"
OCI_MCP_TRUST_ID = "OCI_MCP_TRUST_ID"
OCI_MCP_TRUST_CREATED = "OCI_MCP_TRUST_CREATED"
OCI_MCP_JWKS_OPENED = "OCI_MCP_JWKS_OPENED"
# Ownership and the settings a re-run of `init` defaults to.
OCI_MCP_OWNER = "OCI_MCP_OWNER"
OCI_MCP_APP_NAME = "OCI_MCP_APP_NAME"
OCI_MCP_EXCHANGE_APP_NAME = "OCI_MCP_EXCHANGE_APP_NAME"
OCI_MCP_CLIENT_CLAIM = "OCI_MCP_CLIENT_CLAIM"
# The same values under the names Oracle's samples and its official OCI MCP servers read
# (written by `init` for a real, https domain; IDCS_DOMAIN is the bare host).
IDCS_DOMAIN = "IDCS_DOMAIN"
IDCS_CLIENT_ID = "IDCS_CLIENT_ID"
IDCS_CLIENT_SECRET = "IDCS_CLIENT_SECRET"
# `init --for oracle-mcp` (Oracle's official OCI MCP servers; docs/oracle-mcp.md): what it
# provisioned, recorded in the project .env. Per service it also writes `<env>.oracle-<service>`
# holding exactly the variables that server reads (ORACLE_MCP_*, IDCS_*, OCI_REGION, …).
OCI_MCP_TARGET = "OCI_MCP_TARGET"
OCI_MCP_ORACLE_SERVICES = "OCI_MCP_ORACLE_SERVICES"
OCI_MCP_RESOURCE_APP_NAME = "OCI_MCP_RESOURCE_APP_NAME"
OCI_MCP_RESOURCE_APP_ID = "OCI_MCP_RESOURCE_APP_ID"
IDCS_AUDIENCE = "IDCS_AUDIENCE"
ORACLE_MCP_HOST = "ORACLE_MCP_HOST"
ORACLE_MCP_PORT = "ORACLE_MCP_PORT"
ORACLE_MCP_BASE_URL = "ORACLE_MCP_BASE_URL"
IDCS_REQUIRED_SCOPES = "IDCS_REQUIRED_SCOPES"
TENANCY_ID_OVERRIDE = "TENANCY_ID_OVERRIDE"
OCI_MCP_TENANCY_ID_OVERRIDE = "OCI_MCP_TENANCY_ID_OVERRIDE"
# Who may sign in (issue 20, provisioning/access.py): the groups/users granted the app by this
# project (comma-separated names; empty/absent = not managed by oci-mcp), the ids of the grants
# it created (the ownership record: only these are ever deleted), and whether it switched the
# app's allowAccessControl on (only then is it switched off again).
OCI_MCP_ALLOWED_GROUPS = "OCI_MCP_ALLOWED_GROUPS"
OCI_MCP_ALLOWED_USERS = "OCI_MCP_ALLOWED_USERS"
OCI_MCP_OWNED_GRANTS = "OCI_MCP_OWNED_GRANTS"
OCI_MCP_ACCESS_CONTROL_SET = "OCI_MCP_ACCESS_CONTROL_SET"
ACCESS_KEYS = (
    OCI_MCP_ALLOWED_GROUPS,
    OCI_MCP_ALLOWED_USERS,
    OCI_MCP_OWNED_GRANTS,
    OCI_MCP_ACCESS_CONTROL_SET,
)

SECRET_KEYS = frozenset(
    {IAM_CLIENT_SECRET, IAM_TOKENEXCHANGE_CLIENT_SECRET, MCP_JWT_SIGNING_KEY, IDCS_CLIENT_SECRET}
)
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
    OCI_MCP_APP_NAME,
    OCI_MCP_EXCHANGE_APP_NAME,
    OCI_MCP_CLIENT_CLAIM,
    OCI_MCP_OWNER,
    IDCS_DOMAIN,
    IDCS_CLIENT_ID,
    IDCS_CLIENT_SECRET,
    # `init --for oracle-mcp` (teardown removes them; OCI_MCP_TARGET stays, like OCI_MCP_OWNER:
    # it keeps the file from being mistaken for our own server's .env).
    OCI_MCP_ORACLE_SERVICES,
    OCI_MCP_RESOURCE_APP_NAME,
    OCI_MCP_RESOURCE_APP_ID,
    IDCS_AUDIENCE,
    *ACCESS_KEYS,
)
# Read-only aliases: alias -> canonical key.
ALIASES = {
    IDCS_DOMAIN: IAM_DOMAIN,
    IDCS_CLIENT_ID: IAM_CLIENT_ID,
    IDCS_CLIENT_SECRET: IAM_CLIENT_SECRET,
}
DEFAULT_REDIRECT_PATH = "/auth/callback"
DEFAULT_ENV_FILE = Path(".env")

ENV_HEADER = "# Written by oci-mcp. Keep this file private (mode 0600); it holds secrets."
# Values written bare; anything else is single-quoted (python-dotenv neither interpolates nor
# unescapes single-quoted values, except \\ and \' — see _quote).
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_./:@%+,=\-]+")
_EXPORT = re.compile(r"export[^\S\r\n]+")
_LINE_END = re.compile(r"(?:\r\n|\n|\r)\Z")
_INLINE_COMMENT = re.compile(r"[^\S\r\n]+#[^\r\n]*")


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
    """KEY -> value as python-dotenv reads it, without ``${VAR}`` interpolation: what was
    written is what is read."""
    from io import StringIO

    from dotenv import dotenv_values

    values = dotenv_values(stream=StringIO(text), interpolate=False)
    return {k: v for k, v in values.items() if v is not None}


def _read_text(path: Path) -> str:
    """The file's text exactly (no newline translation, so a value's ``\\r`` survives)."""
    return path.read_bytes().decode("utf-8")


def read_values(path: Path | str) -> dict[str, str]:
    """THE ``.env`` reader: ``path``'s KEY -> value exactly as written (never interpolated, names
    as they are, nothing aliased); a UserError when it cannot be read as UTF-8 text."""
    path = Path(path)
    try:
        return _parse(_read_text(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(
            f"cannot read {path}: {exc}",
            hint=f"{path} must be a UTF-8 text file of KEY=VALUE lines "
            "(move it aside and re-run `oci-mcp init` to write a new one)",
        ) from exc


def unparseable_lines(path: Path | str) -> list[int]:
    """The line numbers the reader skips (not ``KEY=VALUE``), for doctor to point at."""
    from dotenv.parser import parse_stream

    with open(path, encoding="utf-8", errors="replace") as handle:
        return [binding.original.line for binding in parse_stream(handle) if binding.error]


def load_env(path: Path | str = DEFAULT_ENV_FILE) -> EnvFile:
    """Read ``path`` (missing file = empty). Aliases are mapped onto canonical names."""
    path = Path(path)
    if not path.exists():
        return EnvFile(path=path, values={}, exists=False)
    raw = read_values(path)
    values = dict(raw)
    for alias, canonical in ALIASES.items():
        if alias in raw and not values.get(canonical):
            values[canonical] = raw[alias]
    return EnvFile(path=path, values=values, exists=True)


def _quote(value: str) -> str:
    """``value`` as python-dotenv reads it back unchanged, whatever it holds.

    Single quotes: dotenv never interpolates them and unescapes only ``\\\\`` and ``\\'``, so
    escaping exactly those two round-trips every string (newlines included).
    """
    if value == "" or _PLAIN_VALUE.fullmatch(value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _binding_parts(text: str) -> tuple[str, str, str]:
    """Split one binding's original text into (lead, export, tail): the blank lines and
    indentation before it, an ``export`` prefix, and what follows its value (an inline comment
    and the line end) — the parts a rewrite of the value keeps."""
    lead = text[: len(text) - len(text.lstrip())]
    export = _EXPORT.match(text, len(lead))
    line_end = _LINE_END.search(text)
    tail = line_end.group(0) if line_end else ""
    try:  # find where the value ends with dotenv's own grammar; else keep just the line end
        from io import StringIO

        from dotenv import parser as P

        reader = P.Reader(StringIO(text))
        reader.read_regex(P._multiline_whitespace)
        reader.read_regex(P._export)
        P.parse_key(reader)
        reader.read_regex(P._whitespace)
        if reader.peek(1) == "=":
            (equal_sign,) = reader.read_regex(P._equal_sign)
            value_start = reader.position.chars
            if len(equal_sign) > 1 and reader.peek(1) == "#":  # `KEY= # comment`: empty value
                rest = " " + text[value_start:]
            else:
                P.parse_value(reader)
                rest = text[reader.position.chars :]
                if text[value_start : value_start + 1] not in ("'", '"'):  # comment inside
                    comment = _INLINE_COMMENT.search(text[value_start : reader.position.chars])
                    rest = (comment.group(0) if comment else "") + rest
            if rest.strip().startswith("#") or not rest.strip():
                tail = rest
    except Exception:  # private parser API changed: the line end is enough
        pass
    return lead, export.group(0) if export else "", tail


def render_env(existing_text: str, updates: Mapping[str, str], remove: Iterable[str] = ()) -> str:
    """Rewrite ``existing_text``: update keys in place, append new ones, drop ``remove``.

    Built on python-dotenv's parser: each binding's original text is replaced as a whole (a
    multi-line value leaves nothing behind); comments, blank lines, unknown keys, unparseable
    lines and line endings are kept as they were. A key bound twice keeps its first place.
    """
    from io import StringIO

    from dotenv.parser import parse_stream

    drop = set(remove) - set(updates)
    pending = dict(updates)
    bom = "\ufeff" if existing_text.startswith("\ufeff") else ""
    out: list[str] = [bom]
    written: set[str] = set()
    for binding in parse_stream(StringIO(existing_text)):
        text, key = binding.original.string, None if binding.error else binding.key
        if key is None or (key not in drop and key not in updates):
            out.append(text)
            continue
        lead, export, tail = _binding_parts(text)
        if key in drop or key in written:  # removed, or a later duplicate of an updated key
            out.append(lead[: max(lead.rfind("\n"), lead.rfind("\r")) + 1])  # its blank lines
            continue
        written.add(key)
        out.append(f"{lead}{export}{key}={_quote(pending.pop(key))}{tail}")
    rendered = "".join(out)
    if pending:
        if rendered and not rendered.endswith(("\n", "\r")):
            rendered += "\n"
        if not existing_text.strip():
            rendered += ENV_HEADER + "\n"
        elif rendered.strip() and not rendered.endswith(("\n\n", "\r\n\r\n", "\r\r")):
            rendered += "\n"
        rendered += "".join(f"{key}={_quote(value)}\n" for key, value in pending.items())
    return rendered


def save_env(
    path: Path | str,
    updates: Mapping[str, str],
    *,
    remove: Iterable[str] = (),
    backup: bool = True,
) -> Path | None:
    """Atomically write ``updates`` to ``path`` (0600), keeping unknown keys; back up the old file
    (unless ``backup`` is false: a later write of the same run keeps the first backup).

    Returns the backup path, or None when there was no previous file (or no backup).
    """
    path = Path(path)
    try:
        existing = _read_text(path) if path.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(
            f"cannot update {path}: {exc}", hint=f"fix or move {path} aside, then re-run"
        ) from exc
    kept = backup_file(path) if backup else None
    write_private(path, render_env(existing, updates, remove))
    return kept
