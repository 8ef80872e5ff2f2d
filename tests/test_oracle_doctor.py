"""Oracle's official OCI MCP servers (issue 12), the parts around the server itself:
`doctor --oracle` (every link, and each printed fix applied verbatim turns it green), a plain MCP
SDK OAuth client signing alice and bob in, and `serve --oracle --as-published` failing sign-in with
the domain's ``invalid_scope`` (why the shim exists).

One sandbox, one `init --for oracle-mcp` (object-storage + identity), the object-storage server
running through `serve --oracle` under `sandbox exec`. Needs the Python ≥ 3.13 venv of
test_oracle_mcp.py (skips without it, fails under CI=true).
"""

# ruff: noqa: F811  (pytest fixtures imported from test_oracle_mcp)
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from proc_support import stop_group
from test_oracle_mcp import (  # noqa: F401
    CLI,
    free_port,
    home,
    oracle_python,
    under_exec,
    wait_listening,
)

from oci_mcp_cli.sandbox import Sandbox

SERVICE = "object-storage"
EXPECTED_BUCKETS = {
    "alice": {"eng-artifacts", "eng-logs", "dev-scratch", "shared-docs"},
    "bob": {"fin-reports", "shared-docs"},
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, home: Path,
          oracle_python: str) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("oracle-doctor")
    with Sandbox(state_dir=tmp / "sb") as sb:
        domain = next(d for d in sb.domains if d["type"] == "DEFAULT")
        port = free_port(2)  # the services get consecutive ports
        env_file = tmp / "proj" / ".env"
        env_file.parent.mkdir()
        init = under_exec(sb, home, *CLI, "init", "--for", "oracle-mcp", "--service", SERVICE,
                          "--service", "identity", "--yes", "--json", "--env-file", str(env_file),
                          "--domain-url", domain["https_url"], "--server-url",
                          f"http://127.0.0.1:{port}", "--open-jwks")
        assert init.returncode == 0, init.stdout + init.stderr
        log = tmp / "server.log"
        with log.open("wb") as fh:
            proc = subprocess.Popen(
                [*CLI, "sandbox", "exec", "--state-dir", str(sb.state_dir), "--", *CLI, "serve",
                 "--oracle", SERVICE, "--env-file", str(env_file), "--python", oracle_python],
                env={**os.environ, "HOME": str(home)}, stdout=fh, stderr=subprocess.STDOUT,
                start_new_session=True)
        try:
            wait_listening(port, proc, log)
            yield {"sb": sb, "env_file": env_file, "port": port, "home": home, "tmp": tmp,
                   "init": json.loads(init.stdout), "python": oracle_python}
        finally:
            stop_group(proc)  # `sandbox exec` and the server it runs


def doctor(stack: dict[str, Any], service: str = SERVICE) -> tuple[int, dict[str, Any]]:
    done = under_exec(stack["sb"], stack["home"], *CLI, "doctor", "--oracle", service, "--json",
                      "--env-file", str(stack["env_file"]))
    checks = {c["name"]: c for c in json.loads(done.stdout)["checks"]}
    return done.returncode, checks


def apply_fix(stack: dict[str, Any], check: dict[str, Any]) -> list[str]:
    """The first command of the check's fix, run exactly as printed (+ --yes for init)."""
    assert check["ok"] is False, check
    commands = [c for c in re.findall(r"`([^`]+)`", check["fix"] or "")
                if c.startswith("oci-mcp ")]
    assert commands, check["fix"]
    argv = shlex.split(commands[0])
    extra = ["--yes"] if argv[1] == "init" else []
    done = under_exec(stack["sb"], stack["home"], *CLI, *argv[1:], *extra)
    assert done.returncode == 0, (argv, done.stdout, done.stderr)
    return argv


def admin_client(sb: Sandbox) -> Any:
    """An IdentityDomainsClient as the sandbox admin (drift injection and read-back)."""
    from oci_mcp_cli.core.ociconfig import identity_domains_client, load_oci_auth

    domain = next(d["url"] for d in sb.domains if d["type"] == "DEFAULT")
    return identity_domains_client(load_oci_auth(sb.config_file, sb.profile), domain)


def patch(client: Any, kind: str, resource_id: str, *ops: tuple[str, str, Any]) -> None:
    from oci_mcp_cli.provisioning.scim import patch_op

    getattr(client, f"patch_{kind}")(resource_id, patch_op=patch_op(list(ops)))


# ── doctor ───────────────────────────────────────────────────────────────────────────────────
def test_doctor_all_green(stack: dict[str, Any]) -> None:
    code, checks = doctor(stack)
    assert code == 0, checks
    assert list(checks) == ["env", "discovery", "jwks", "resource-app", "app", "client-secret",
                            "trust", "server"]
    assert all(c["ok"] is True for c in checks.values()), checks
    audience = stack["init"]["audience"]
    assert f"audience {audience}" in checks["resource-app"]["detail"]
    assert f"{audience}oci_mcp.object_storage.invoke" in checks["app"]["detail"]
    base = f"http://127.0.0.1:{stack['port']}"
    assert f"redirect URI {base}/auth/callback" in checks["app"]["detail"]
    assert f"resource {base}/mcp" in checks["server"]["detail"]
    assert "oci_mcp.object_storage.invoke" in checks["server"]["detail"]


def test_doctor_skips_a_server_that_is_not_running(stack: dict[str, Any]) -> None:
    code, checks = doctor(stack, "identity")
    assert code == 1
    assert checks["server"]["ok"] is None
    assert f"oci-mcp serve --oracle identity --env-file {stack['env_file']}" in (
        checks["server"]["fix"])
    assert all(c["ok"] is True for n, c in checks.items() if n != "server"), checks


def _resource_app(stack: dict[str, Any]) -> Any:
    from oci_mcp_cli.core.envfile import OCI_MCP_RESOURCE_APP_ID, load_env

    app_id = load_env(stack["env_file"]).get(OCI_MCP_RESOURCE_APP_ID)
    return admin_client(stack["sb"]).get_app(app_id).data


def _client_app(stack: dict[str, Any]) -> Any:
    from oci_mcp_cli.core.envfile import OCI_MCP_APP_ID, load_env

    app_id = load_env(stack["env_file"]).get(OCI_MCP_APP_ID)
    return admin_client(stack["sb"]).get_app(app_id).data


def _break_audience(stack: dict[str, Any]) -> None:
    app = _resource_app(stack)
    patch(admin_client(stack["sb"]), "app", app.id, ("REPLACE", "audience", "urn:someone-else/"))


def _break_allowed_scopes(stack: dict[str, Any]) -> None:
    app = _client_app(stack)
    kept = [{"fqs": s.fqs} for s in app.allowed_scopes or []
            if not s.fqs.endswith("oci_mcp.object_storage.invoke")]
    patch(admin_client(stack["sb"]), "app", app.id, ("REPLACE", "allowedScopes", kept))


def _delete_trust(stack: dict[str, Any]) -> None:
    client = admin_client(stack["sb"])
    for trust in client.list_identity_propagation_trusts().data.resources or []:
        client.delete_identity_propagation_trust(trust.id, force_delete=True)


@pytest.mark.parametrize(
    "breaks, check, says",
    [
        (_break_audience, "resource-app", "has audience 'urn:someone-else/'"),
        (_break_allowed_scopes, "app", "is not allowed scope"),
        (_delete_trust, "trust", "no identity propagation trust"),
    ],
    ids=["wrong-audience", "missing-allowed-scope", "trust-missing"],
)
def test_doctor_fix_turns_it_green(stack: dict[str, Any], breaks: Any, check: str,
                                   says: str) -> None:
    breaks(stack)
    code, before = doctor(stack)
    assert code == 1 and before[check]["ok"] is False, before[check]
    assert says in before[check]["detail"]
    argv = apply_fix(stack, before[check])
    assert argv[:4] == ["oci-mcp", "init", "--for", "oracle-mcp"]
    code, after = doctor(stack)
    assert code == 0, after
    assert all(c["ok"] is True for c in after.values()), after


def test_doctor_env_file_mode_fix(stack: dict[str, Any]) -> None:
    path = stack["env_file"].with_name(f".env.oracle-{SERVICE}")
    path.chmod(0o644)
    _, before = doctor(stack)
    assert before["env"]["ok"] is False
    argv = shlex.split(re.findall(r"`([^`]+)`", before["env"]["fix"])[0])
    assert argv[:2] == ["chmod", "600"]
    subprocess.run(argv, check=True)
    code, after = doctor(stack)
    assert code == 0 and after["env"]["ok"] is True, after


# ── a plain MCP SDK OAuth client ─────────────────────────────────────────────────────────────
@pytest.fixture
def sandbox_env(stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    # The headless sign-in is a browser stand-in: it reaches the domain on its real https host.
    for key, value in stack["sb"].env().items():
        monkeypatch.setenv(key, value)


def _compartment_ids(sb: Sandbox) -> list[str]:
    state = json.loads((sb.state_dir / "state.json").read_text())
    return list(state["compartments"])


async def _sdk_list_buckets(url: str, user: str, password: str,
                            compartments: list[str]) -> set[str]:
    """Sign in with the MCP SDK's own ``OAuthClientProvider`` (in-memory storage, a headless
    redirect/callback handler) and call ``list_buckets`` in every compartment."""
    import httpx2
    from mcp import ClientSession
    from mcp.client.auth import OAuthClientProvider
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata

    from oci_mcp_cli.client.headless import headless_authorize

    redirect = "http://127.0.0.1:9/callback"  # never listened on: the handler stops before it

    class Memory:
        tokens: Any = None
        info: Any = None

        async def get_tokens(self) -> Any:
            return self.tokens

        async def set_tokens(self, tokens: Any) -> None:
            self.tokens = tokens

        async def get_client_info(self) -> Any:
            return self.info

        async def set_client_info(self, info: Any) -> None:
            self.info = info

    captured: dict[str, str] = {}

    async def redirect_handler(authorization_url: str) -> None:
        captured.update(await headless_authorize(authorization_url, redirect, user, password))

    async def callback_handler() -> AuthorizationCodeResult:
        return AuthorizationCodeResult(code=captured["code"], state=captured.get("state"),
                                       iss=captured.get("iss"))

    provider = OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(
            client_name="plain mcp sdk client", redirect_uris=[redirect],
            grant_types=["authorization_code", "refresh_token"], response_types=["code"],
            token_endpoint_auth_method="none"),
        storage=Memory(), redirect_handler=redirect_handler, callback_handler=callback_handler)
    seen: set[str] = set()
    async with httpx2.AsyncClient(auth=provider, timeout=120) as http, \
            streamable_http_client(url, http_client=http) as streams:
        read, write = streams[0], streams[1]
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = {t.name for t in (await session.list_tools()).tools}
            assert "list_buckets" in tools
            for cid in compartments:
                result = await session.call_tool("list_buckets", {"compartment_id": cid})
                if result.is_error:  # a compartment this user may not see
                    continue
                data = result.structured_content
                items = data.get("result", data) if isinstance(data, dict) else data
                seen |= {b["name"] for b in items}
    assert captured.get("code"), "the sign-in never reached the callback"
    return seen


@pytest.mark.usefixtures("sandbox_env")
def test_plain_mcp_sdk_client_as_alice_and_bob(stack: dict[str, Any]) -> None:
    import anyio

    sb: Sandbox = stack["sb"]
    url = f"http://127.0.0.1:{stack['port']}/mcp"
    compartments = _compartment_ids(sb)
    sb.clear_requests()
    for user, buckets in EXPECTED_BUCKETS.items():
        password = next(u["password"] for u in sb.users if u["username"] == user)
        assert anyio.run(_sdk_list_buckets, url, user, password, compartments) == buckets
    upst = [r for r in sb.requests() if r.get("auth") == "upst"]
    assert {r["principal"] for r in upst} == {"alice", "bob"}


# ── --as-published: the scope trap ───────────────────────────────────────────────────────────
@pytest.mark.usefixtures("sandbox_env")
def test_as_published_sign_in_fails_with_invalid_scope(stack: dict[str, Any]) -> None:
    import anyio

    from oci_mcp_cli.client.session import ClientOptions, run_session

    sb: Sandbox = stack["sb"]
    port = stack["port"] + 1  # identity's port (second service)
    log = stack["tmp"] / "as-published.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [*CLI, "sandbox", "exec", "--state-dir", str(sb.state_dir), "--", *CLI, "serve",
             "--oracle", "identity", "--env-file", str(stack["env_file"]), "--python",
             stack["python"], "--as-published"],
            env={**os.environ, "HOME": str(stack["home"])}, stdout=fh, stderr=subprocess.STDOUT,
            start_new_session=True)
    try:
        wait_listening(port, proc, log)
        sb.clear_requests()
        password = next(u["password"] for u in sb.users if u["username"] == "alice")
        options = ClientOptions(url=f"http://127.0.0.1:{port}/mcp", username="alice",
                                password=password, calls=[],
                                cache_root=stack["tmp"] / "cache-as-published")
        with pytest.raises(Exception) as info:
            report = anyio.run(run_session, options)
            assert not report.ok  # (not reached when the sign-in raises)
            raise AssertionError(report.errors)
        assert "invalid_scope" in _message(info.value), _message(info.value)
    finally:
        stop_group(proc)  # `sandbox exec` and the server it runs
    # The bare scope reached the domain's /authorize, which refused it.
    authorize = [r for r in sb.requests() if r["path"].endswith("/oauth2/v1/authorize")]
    assert authorize, sb.requests()[-5:]


def _message(exc: BaseException) -> str:
    parts = [str(exc)]
    for sub in getattr(exc, "exceptions", ()):
        parts.append(_message(sub))
    if exc.__cause__:
        parts.append(_message(exc.__cause__))
    return " | ".join(parts)
