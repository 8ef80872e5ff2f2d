"""Readable at 80 columns: `doctor` and `trust list` never break a word across lines.

Rendered by the real commands with COLUMNS=80 (rich reads it for its console width). A value too
long for its column may be elided ("…", the full value is in --json), never folded mid-word.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from oci_mcp_cli.cli.app import app
from oci_mcp_cli.core import envfile as E
from oci_mcp_cli.core.ports import free_port

WIDTH = 80


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout


class Project:
    def __init__(self, sb: Any, env: Path) -> None:
        self.sb, self.env = sb, env

    def admin(self) -> tuple[str, ...]:
        return ("--config-file", self.sb.config_file, "--profile", self.sb.profile)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    from oci_mcp_cli.sandbox import Sandbox

    tmp = tmp_path_factory.mktemp("narrow")
    with Sandbox(state_dir=tmp / "sandbox") as sb:
        env = tmp / "a-rather-long-project-directory-name" / ".env"
        code, out = cli("init", "--config-file", sb.config_file, "--profile", sb.profile,
                        "--server-url", f"http://127.0.0.1:{free_port()}",
                        "--env-file", str(env), "--yes")
        assert code == 0, out
        yield Project(sb, env)


@pytest.fixture
def narrow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", str(WIDTH))


def assert_readable(text: str, values: list[str]) -> None:
    """No line wider than the terminal; every word of ``values`` whole on one line, or elided
    (a prefix of it ending in "…") — never split into fragments."""
    lines = text.splitlines()
    assert lines and max(len(line) for line in lines) <= WIDTH, text
    shown = set(text.split())
    for word in {w for value in values for w in value.split()}:
        if word in text:
            continue
        elided = [w for w in shown if w.endswith("…") and len(w) > 8 and word.startswith(w[:-1])]
        assert elided, f"{word!r} is split across lines:\n{text}"


# ── doctor ───────────────────────────────────────────────────────────────────────────────────
def doctor(project: Project, env: Path | None = None) -> tuple[str, list[dict[str, Any]]]:
    path = str(env or project.env)
    _, table = cli("doctor", "--env-file", path)
    _, raw = cli("doctor", "--env-file", path, "--json")
    return table, json.loads(raw)["checks"]


@pytest.mark.usefixtures("narrow")
def test_doctor_all_green_at_80_columns_has_no_fix_column(project: Project) -> None:
    from oci_mcp_cli.server.app import ServerThread
    from oci_mcp_cli.server.config import load_settings

    settings = load_settings(project.env, storage_dir=project.env.parent / "store")
    with ServerThread(settings):
        table, checks = doctor(project)
    assert all(c["ok"] is True for c in checks), checks
    assert_readable(table, [c["detail"] for c in checks])
    assert not re.search(r"\bfix\b", table), table


@pytest.mark.usefixtures("narrow")
def test_doctor_failures_at_80_columns(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env = Path("wrong-secret.env")
    env.write_text(E.render_env(project.env.read_text(), {E.IAM_CLIENT_SECRET: "idcscs-wrong"}))
    env.chmod(0o644)
    table, checks = doctor(project, env)
    assert [c["name"] for c in checks if c["ok"] is False] == ["env", "client-secret"]
    assert_readable(table, [c["detail"] for c in checks] + [c["fix"] or "" for c in checks])
    assert "FAIL" in table and "skipped" in table  # no server running
    assert f"chmod 600 {env}" in table  # the command to copy is whole


# ── trust list ───────────────────────────────────────────────────────────────────────────────
@pytest.mark.usefixtures("narrow")
def test_trust_list_at_80_columns(project: Project) -> None:
    from oci_mcp_cli.core.ociconfig import identity_domains_client, load_oci_auth
    from oci_mcp_cli.provisioning.trust import DesiredTrust

    domain = E.load_env(project.env).domain_url
    client = identity_domains_client(load_oci_auth(project.sb.config_file, project.sb.profile),
                                     domain)
    body = DesiredTrust("https://issuer.example.com/with/a/rather/long/path/to/make/it/wide",
                        "https://example.com/jwk", "another-exchange-client-id",
                        "another-login-client-id").body()
    body.name = "A second trust with a long descriptive name"
    client.create_identity_propagation_trust(identity_propagation_trust=body)
    args = ("trust", "list", "--env-file", str(project.env), *project.admin())
    code, text = cli(*args)
    assert code == 0, text
    _, raw = cli(*args, "--json")
    trusts = json.loads(raw)["trusts"]
    assert len(trusts) == 2
    values = [t[k] or "" for t in trusts for k in ("id", "name", "issuer", "client_claim")]
    values += [c for t in trusts for c in t["oauth_clients"]]
    assert_readable(text, values)
    for t in trusts:
        assert t["id"] in text  # ids stay whole (copy-paste)


def test_trust_list_wide_is_one_row_per_trust(project: Project, monkeypatch: pytest.MonkeyPatch
                                              ) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    args = ("trust", "list", "--env-file", str(project.env), *project.admin())
    _, raw = cli(*args, "--json")
    _, text = cli(*args)
    for t in json.loads(raw)["trusts"]:
        (row,) = [line for line in text.splitlines() if t["id"] in line]
        assert t["issuer"] in row and t["name"] in row


@pytest.mark.parametrize("columns", ["123", "251"])
def test_the_consoles_follow_columns_in_every_in_process_run(monkeypatch: pytest.MonkeyPatch,
                                                             columns: str) -> None:
    """rich fixes a console's width when it is built with COLUMNS set, and pytest-xdist's workers
    have COLUMNS=80: had the CLI's consoles been built with it, every test in the worker would
    render at 80 columns whatever it sets (seen under xdist). conftest.py builds them without."""
    from oci_mcp_cli.cli import output

    monkeypatch.setenv("COLUMNS", columns)
    assert (output.out.width, output.err.width) == (int(columns), int(columns))
