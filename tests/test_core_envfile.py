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


# ── round trip: what is written is read back byte for byte ───────────────────────────────────
def test_dollar_brace_is_not_interpolated(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    E.save_env(path, {E.IAM_CLIENT_SECRET: "abc${HOME}def", E.MCP_JWT_SIGNING_KEY: "$HOME"})
    env = E.load_env(path)
    assert env.get(E.IAM_CLIENT_SECRET) == "abc${HOME}def"
    assert env.get(E.MCP_JWT_SIGNING_KEY) == "$HOME"


def test_hand_written_reference_is_read_literally(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text('A=x${HOME}\nB="y${HOME}"\n')
    assert E.load_env(path).values == {"A": "x${HOME}", "B": "y${HOME}"}


def test_replacing_a_multi_line_value_leaves_no_orphan_line(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text('# notes\nIAM_CLIENT_SECRET="first\nsecond line"\nOTHER=keep\n')
    E.save_env(path, {E.IAM_CLIENT_SECRET: "new"})
    assert path.read_text() == "# notes\nIAM_CLIENT_SECRET=new\nOTHER=keep\n"
    assert E.load_env(path).values == {E.IAM_CLIENT_SECRET: "new", "OTHER": "keep"}


def test_layout_comments_export_inline_comments_and_line_ends_are_kept() -> None:
    text = (
        "# header\r\n\r\nexport A=1 # why\r\n  B='x' # b\r\nbad line\r\nC= # empty\r\n"
        "A=duplicate\r\nD=gone\r\n"
    )
    rendered = E.render_env(text, {"A": "a b", "B": "$y", "C": "c"}, remove=["D"])
    assert rendered == (
        "# header\r\n\r\nexport A='a b' # why\r\n  B='$y' # b\r\nbad line\r\nC=c # empty\r\n"
    )
    assert E._parse(rendered) == {"A": "a b", "B": "$y", "C": "c"}


def test_new_keys_are_appended_after_a_blank_line() -> None:
    assert E.render_env("A=1", {"B": "2"}) == "A=1\n\nB=2\n"
    assert E.render_env("", {"B": "2"}) == E.ENV_HEADER + "\nB=2\n"


def _corpus() -> list[str]:
    """Every troublesome character alone, in pairs, and many seeded random mixes."""
    import random

    special = ["$", "{", "}", "'", '"', "#", "\\", "\n", "\r", "\r\n", "\t", " ", "=", "`",
               "!", "*", "\x00", "\ufeff", "é", "€", "😀", "export ", "a", "Z", "0", "-", ":"]
    corpus = ["", " ", "  lead", "trail  ", " both ", "abc${HOME}def", "${HOME}", "$HOME",
              "\\'", "\\\\'", "'", "''", '"', '""', "\\", "\\\\", "a\\", "\\n", "\\t", "\\x41",
              "\\u0041", "#", " #x", "x #y", "x#y", "a\nb", "a\n", "\n", "\r", "a\r\nb",
              "KEY=VALUE", "\nOTHER=injected", "' # '", '"${A:-b}"', "\\\n", "'\n'"]
    corpus += special + [a + b for a in special for b in special]
    rng = random.Random(8)
    corpus += ["".join(rng.choice(special) for _ in range(rng.randint(1, 12))) for _ in range(3000)]
    return corpus


def test_every_string_round_trips_through_render_and_parse() -> None:
    base = E.render_env("", {"BEFORE": "b4", "K": "'old\nmulti' # x", "AFTER": "after"})
    failures = []
    for value in _corpus():
        rendered = E.render_env(base, {"K": value})
        if E._parse(rendered) != {"BEFORE": "b4", "K": value, "AFTER": "after"}:
            failures.append(value)
        again = E.render_env(rendered, {"K": value[::-1]})  # rewrite over the special value
        if E._parse(again) != {"BEFORE": "b4", "K": value[::-1], "AFTER": "after"}:
            failures.append(value[::-1])
    assert failures == []


def test_values_round_trip_through_the_file(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("# mine\nOTHER=keep\n")
    values = _corpus()[:40] + ["a\r\nb\rc", "\ufeffbom", "x" * 500]
    for i in range(0, len(values), 8):
        chunk = {f"K{j}": v for j, v in enumerate(values[i : i + 8])}
        E.save_env(path, chunk)
        loaded = E.load_env(path).values
        assert {k: loaded.get(k) for k in chunk} == chunk
        assert loaded["OTHER"] == "keep"
    assert path.read_text().startswith("# mine\n")


def test_unreadable_file_is_a_user_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.env"
    bad.write_bytes(b"IAM_CLIENT_ID=\xff\xfe\n")
    with pytest.raises(UserError) as info:
        E.load_env(bad)
    assert str(bad) in info.value.message and info.value.hint
    directory = tmp_path / "dir.env"
    directory.mkdir()
    with pytest.raises(UserError):
        E.load_env(directory)
    with pytest.raises(UserError):
        E.save_env(bad, {"A": "1"})
