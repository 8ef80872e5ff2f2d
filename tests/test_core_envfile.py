"""core.envfile: the one .env schema — aliases, validation, masked secrets, atomic save."""

from __future__ import annotations

from pathlib import Path

import pytest

from oci_mcp_cli.core import envfile as E
from oci_mcp_cli.core.errors import UserError
from oci_mcp_cli.core.files import file_mode

GUID = "idcs-0123456789abcdef0123456789abcdef"


def test_missing_file_is_empty(tmp_path: Path) -> None:
    env = E.load_env(tmp_path / ".env")
    assert not env.exists and env.values == {}
    with pytest.raises(UserError) as info:
        env.require()
    assert "does not exist" in info.value.message
    assert "oci-mcp init" in (info.value.hint or "")


def test_idcs_aliases_are_read(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(
        f"IDCS_DOMAIN={GUID}.identity.oraclecloud.com:443\nIDCS_CLIENT_ID=abc\n"
        "IDCS_CLIENT_SECRET=s3cr3t\n"
    )
    env = E.load_env(path)
    assert env.get(E.IAM_CLIENT_ID) == "abc"
    assert env.get(E.IAM_CLIENT_SECRET) == "s3cr3t"
    assert env.domain_url == f"https://{GUID}.identity.oraclecloud.com"
    assert env.exchange_client_id == "abc"  # same app unless a separate one is recorded


def test_canonical_name_wins_over_alias(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("IAM_CLIENT_ID=canonical\nIDCS_CLIENT_ID=alias\n")
    assert E.load_env(path).get(E.IAM_CLIENT_ID) == "canonical"


def test_require_names_every_missing_key(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("IAM_CLIENT_ID=x\n")
    with pytest.raises(UserError) as info:
        E.load_env(path).require()
    for key in (E.IAM_DOMAIN, E.IAM_CLIENT_SECRET, E.MCP_SERVER_URL, E.MCP_JWT_SIGNING_KEY):
        assert key in info.value.message


def test_validate_reports_bad_values(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(
        "IAM_DOMAIN=http://example.com\nMCP_SERVER_URL=http://mcp.example.com\n"
        "MCP_REDIRECT_PATH=auth/callback\n"
    )
    with pytest.raises(UserError) as info:
        E.load_env(path).validate()
    message = info.value.message
    assert (
        "IAM_DOMAIN" in message and "MCP_SERVER_URL" in message and "MCP_REDIRECT_PATH" in message
    )


def test_save_keeps_unknown_keys_comments_and_backs_up(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("# my notes\nOTHER=keep me\nIAM_CLIENT_ID=old\nOCI_MCP_TRUST_ID=t1\n")
    backup = E.save_env(
        path, {E.IAM_CLIENT_ID: "new", E.IAM_GUID: GUID}, remove=[E.OCI_MCP_TRUST_ID]
    )
    text = path.read_text()
    assert "# my notes" in text and "OTHER=keep me" in text
    assert "IAM_CLIENT_ID=new" in text and f"IAM_GUID={GUID}" in text
    assert "OCI_MCP_TRUST_ID" not in text
    assert text.index("IAM_CLIENT_ID") < text.index("IAM_GUID")  # updated in place, new appended
    assert backup is not None and "IAM_CLIENT_ID=old" in backup.read_text()
    assert file_mode(path) == 0o600 and file_mode(backup) == 0o600
    reloaded = E.load_env(path)
    assert reloaded.get("OTHER") == "keep me"


def test_new_file_is_private_with_header(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    assert E.save_env(path, {E.IAM_CLIENT_SECRET: 'a "quoted" value with spaces'}) is None
    assert file_mode(path) == 0o600
    assert path.read_text().startswith("# Written by oci-mcp")
    assert E.load_env(path).get(E.IAM_CLIENT_SECRET) == 'a "quoted" value with spaces'


def test_mask() -> None:
    secret = "idcscs-0123456789abcdef"
    assert secret not in E.mask(secret)
    assert E.mask(secret, show=True) == secret
    assert E.mask("short") == "****"
    assert E.mask(None) == ""


def test_schema_lists_are_consistent() -> None:
    assert set(E.PROVISIONED_KEYS) >= E.SECRET_KEYS
    assert set(E.SERVER_REQUIRED_KEYS) <= set(E.PROVISIONED_KEYS)
    assert set(E.ALIASES.values()) <= set(E.PROVISIONED_KEYS)
