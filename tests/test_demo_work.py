"""`oci-mcp demo` does each piece of start-up work once (issue 22, docs/benchmarks.md "The demo
(stop 19)"): the CA bundle is loaded once per HTTP library, not once per HTTP client, and the
shared TLS contexts keep the trust each library would have chosen itself."""

from __future__ import annotations

import ssl
import threading
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e


class CaLoads:
    """A spy on ``ssl.SSLContext.load_verify_locations`` (the real method still runs): counts the
    CA bundle loads of every thread. Not a mock: nothing here is replaced in behaviour."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[threading.Thread] = []
        real = ssl.SSLContext.load_verify_locations
        lock = threading.Lock()

        def spy(ctx: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
            with lock:
                self.calls.append(threading.current_thread())
            real(ctx, *args, **kwargs)

        monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", spy)


def test_demo_loads_the_ca_bundle_once_per_http_library(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both users signed in and called, with one CA bundle load for httpx (readiness waits,
    discovery) and one for httpx2 (the test client, its sign-in, the server's prefetch and JWKS
    client) — before: one per client, 11 in all."""
    from oci_mcp_cli.core import tlscontext
    from oci_mcp_cli.orchestration.demo import run_demo

    tlscontext.clear()  # contexts an earlier test of this process built would hide the loads
    loads = CaLoads(monkeypatch)
    running = set(threading.enumerate())  # e.g. the session's shared sandbox (tests/conftest.py)
    result = run_demo()
    assert result.problems() == []
    assert set(result.reports) == {"alice", "bob"}
    # FastMCP's OIDCProxy builds its own upstream OAuth client (an httpx2 client, verify=True)
    # for every authorization-code exchange, inside FastMCP, where no verify can be passed:
    # one per signed-in user. Everything else is ours and shares the two contexts.
    fastmcp_own = len(result.reports)
    ours = [t.name for t in loads.calls if t is threading.current_thread() or t not in running]
    assert len(ours) <= 2 + fastmcp_own, ours  # not counted: threads older than the demo
    # and nothing the demo started is left running
    names = {"oci-mcp-serve", "oci-mcp-sandbox", "oci-mcp-prefetch"}
    left = [t.name for t in threading.enumerate()
            if t not in running and t.name in names and t.is_alive()]
    assert not left
    assert _refused(result.mcp_url) and _refused(result.sandbox_url + "/_sandbox/health")


def test_shared_context_follows_ssl_cert_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shared context trusts what the library would trust: ``SSL_CERT_FILE`` when set (e.g.
    the sandbox CA of `oci-mcp sandbox env`), a new context when it changes, the library's
    default again when it is unset; built once per trust source."""
    from oci_mcp_cli.core import tlscontext
    from oci_mcp_cli.sandbox.tls import LocalCA

    tlscontext.clear()
    ca = LocalCA(tmp_path / "ca").load_or_create()
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.cert_file))
    for verify in (tlscontext.httpx_verify, tlscontext.httpx2_verify):
        ctx = verify()
        assert verify() is ctx  # built once for this trust source
        issuers = [str(c["subject"]) for c in ctx.get_ca_certs()]
        assert len(issuers) == 1 and "oci-mcp sandbox local CA" in issuers[0], issuers
        assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
        monkeypatch.delenv("SSL_CERT_FILE")
        other = verify()  # the library's own default trust again, not the sandbox CA alone
        assert other is not ctx
        assert "oci-mcp sandbox local CA" not in str(other.get_ca_certs())
        assert other.verify_mode == ssl.CERT_REQUIRED and other.check_hostname
        monkeypatch.setenv("SSL_CERT_FILE", str(ca.cert_file))
        assert verify() is ctx


def _refused(url: str) -> bool:
    import httpx

    try:
        httpx.get(url, timeout=5)
    except httpx.ConnectError:
        return True
    return False


def test_request_stop_lets_the_server_and_the_sandbox_stop_together(tmp_path: Path) -> None:
    """`request_stop()` returns at once and the server thread, then the sandbox (tunnels first,
    then both of its servers) end on their own; `stop()` afterwards only waits and cleans up:
    nothing left listening, the sandbox's running record removed."""
    from serve_support import server_stack

    from oci_mcp_cli.core.waiting import poll_until
    from oci_mcp_cli.sandbox.runner import RUNNING_FILE

    with server_stack(tmp_path) as st:
        server, sb = st.server, st.sb
        assert server is not None
        server_thread, sandbox_thread = server._thread, sb._thread
        assert server_thread is not None and sandbox_thread is not None
        health, sandbox_health = st.settings.server_url + "/health", sb.url + "/_sandbox/health"
        assert not _refused(health) and not _refused(sandbox_health)
        server.request_stop()
        sb.request_stop()
        sb.request_stop()  # idempotent
        assert poll_until(lambda: not server_thread.is_alive(), timeout=15)
        assert poll_until(lambda: not sandbox_thread.is_alive(), timeout=15)
        assert _refused(health) and _refused(sandbox_health)
        assert _refused(f"http://127.0.0.1:{sb.https_port}/") and sb.proxy_url
        assert _refused(sb.proxy_url)
        st.stop()
        sb.stop()
        assert not (sb.state_dir / RUNNING_FILE).exists()
        sb.stop()  # and again: nothing left to do


LAZY_CHILD = '''
import json, sys, tempfile
import httpx, oci
from oci_mcp_cli.sandbox import Sandbox

out = {}
with tempfile.TemporaryDirectory() as d, Sandbox(state_dir=d) as sb:
    out["core_at_start"] = "oci.core" in sys.modules
    config = oci.config.from_file(sb.config_file, sb.profile)
    identity = oci.identity.IdentityClient(config, service_endpoint=sb.url)
    out["identity_call_imports_core"] = bool(identity.list_compartments(sb.tenancy_id).data) and (
        "oci.core" in sys.modules)
    bare = httpx.get(sb.url + "/20160918/instanceX", timeout=10)  # not under a core prefix
    out["bare"] = [bare.status_code, bare.json()]
    out["core_after_unknown_path"] = "oci.core" in sys.modules
    compute = oci.core.ComputeClient(config, service_endpoint=sb.url)
    tenancy = sb.tenancy_id
    out["instances"] = sorted(i.display_name for i in compute.list_instances(tenancy).data)
    search = oci.resource_search.ResourceSearchClient(config, service_endpoint=sb.url)
    out["types"] = len(search.list_resource_types().data) > 0
    wrong = httpx.put(sb.url + "/20160918/instances", timeout=10)  # a collection: GET only
    out["wrong_method"] = [wrong.status_code, wrong.json()]
    missing = httpx.get(sb.url + "/20160918/instances/x/y", timeout=10)
    out["missing"] = [missing.status_code, missing.json()]
print(json.dumps(out))
'''


def test_sandbox_builds_compute_routes_on_first_use() -> None:
    """A sandbox start does not import the SDK's ``oci.core`` (≈ 0.3-0.6 s: the demo never calls
    Compute): its Compute, Virtual Network and Search routes are read from the SDK on the first
    request under their paths, and then answer as before — the SDK's calls, the 405 of a wrong
    method and the 404 of an unknown path, in OCI's error format. In a child process: this one
    has imported ``oci.core`` already."""
    import json
    import subprocess
    import sys

    child = subprocess.run([sys.executable, "-c", LAZY_CHILD], capture_output=True, text=True,
                           timeout=120, check=False)
    assert child.returncode == 0, child.stderr
    out = json.loads(child.stdout)
    assert out["core_at_start"] is False
    assert out["identity_call_imports_core"] is False
    assert out["bare"][0] == 404 and out["bare"][1]["code"] == "NotAuthorizedOrNotFound"
    assert out["core_after_unknown_path"] is False
    assert out["instances"] == []  # the admin's tenancy root has none (they are in compartments)
    assert out["types"] is True
    # the same answers as when the routes were built at start (recorded on the unchanged code)
    assert out["wrong_method"] == [405, {
        "code": "MethodNotAllowed", "message": "no PUT /20160918/instances on the oci-mcp sandbox"}]
    assert out["missing"] == [404, {
        "code": "NotAuthorizedOrNotFound",
        "message": "no GET /20160918/instances/x/y on the oci-mcp sandbox"}]


def test_domain_signing_keys_are_made_on_first_use_fresh_and_kept(tmp_path: Path) -> None:
    """A fresh sandbox makes an identity domain's signing key when the domain first needs it
    (its JWKS, a token), not while seeding: `oci-mcp demo` never uses the Secondary domain
    (one RSA generation, ≈ 50 ms of CPU, saved). The key is still new for every state dir and
    kept across restarts of the same one; the JWKS a client fetched stays the one tokens are
    signed with."""
    import httpx

    from oci_mcp_cli.sandbox import Sandbox
    from oci_mcp_cli.sandbox.oauth import tokens

    def jwks(sb: Sandbox, guid: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{sb.url}/{guid}/admin/v1/SigningCert/jwk", timeout=10)
        assert response.status_code == 200, response.text
        return list(response.json()["keys"])

    def key_files(sb: Sandbox) -> dict[str, bool]:
        state = sb.ctx.store.state
        return {
            d.display_name: (sb.state_dir / d.signing_key_file).exists()
            and (sb.state_dir / d.signing_cert_file).exists()
            for d in state.domains.values()
        }

    with Sandbox(state_dir=tmp_path / "one") as sb:
        guids = {d["display_name"]: d["guid"] for d in sb.domains}
        assert key_files(sb) == {"Default": False, "Secondary": False}
        with sb.ctx.store.mutate() as state:  # the JWKS is anonymous only with this setting
            for domain in state.domains.values():
                domain.settings["signingCertPublicAccess"] = True
        first = jwks(sb, guids["Default"])
        assert key_files(sb) == {"Default": True, "Secondary": False}
        assert jwks(sb, guids["Default"]) == first
        default = next(d for d in sb.ctx.store.state.domains.values() if d.type == "DEFAULT")
        material = tokens.domain_material(sb.ctx, default)
        token = tokens.sign_domain_token(material, {"iss": tokens.ISSUER, "sub": "x"})
        assert tokens.verify_domain_token(material, token)["sub"] == "x"
        assert first[0]["x5t"] == material.x5t
        secondary = jwks(sb, guids["Secondary"])
        assert secondary[0]["n"] != first[0]["n"]  # a key of its own
    with Sandbox(state_dir=tmp_path / "one") as again:  # kept across restarts
        assert jwks(again, guids["Default"]) == first
        assert jwks(again, guids["Secondary"]) == secondary
    with Sandbox(state_dir=tmp_path / "two") as other:  # never shipped: new per state dir
        with other.ctx.store.mutate() as state:
            for domain in state.domains.values():
                domain.settings["signingCertPublicAccess"] = True
        fresh = jwks(other, next(d["guid"] for d in other.domains if d["type"] == "DEFAULT"))
        assert fresh[0]["n"] != first[0]["n"]
