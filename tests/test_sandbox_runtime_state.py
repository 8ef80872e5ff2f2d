"""The sandbox's own speed, tested for behaviour only (timings live in bench/bench_sandbox.py):
TCP_NODELAY on every accepted connection of every listener (issue 14), and the OAuth runtime
state kept in memory with an append log — the token path never rewrites ``state.json``, and
refresh tokens, rotations and revocations survive a restart."""

from __future__ import annotations

import json
import os
import socket
import ssl
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from oauth_flow import (
    Client,
    admin_domains_client,
    create_app,
    create_trust,
    domain_url,
    password,
    session_public_key,
)

from oci_mcp_cli.sandbox import Sandbox

LOG_FILE = "oauth.log"  # the ledger's file (oci_mcp_cli.sandbox.ledger.LOG_FILE)

CB = "https://mcp.example.com/auth/callback"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
UPST = "urn:oci:token-type:oci-upst"


# --- TCP_NODELAY -------------------------------------------------------------------------


def tcp_sockets() -> list[tuple[tuple, tuple, int]]:
    """(local address, peer address, TCP_NODELAY) of every connected TCP socket of this process
    (the in-process sandbox's accepted connections included), read through ``/proc/self/fd``."""
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            if not os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                continue
            dup = socket.socket(fileno=os.dup(int(name)))
        except OSError:
            continue  # closed meanwhile, or not a socket we can inspect
        with dup:
            inet = dup.family in (socket.AF_INET, socket.AF_INET6)
            if not inet or dup.type != socket.SOCK_STREAM:
                continue
            try:
                peer = dup.getpeername()
            except OSError:
                continue  # a listener
            found.append((dup.getsockname(), peer,
                          dup.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/fd")
def test_every_listener_sets_tcp_nodelay_on_accepted_connections(sandbox: Sandbox) -> None:
    domain_ports = set(sandbox.ctx.domain_ports.values())
    main_port = int(sandbox.url.rsplit(":", 1)[1])
    listeners = {main_port, *domain_ports, sandbox.https_port, sandbox.proxy_port}
    regions = "https://identity.us-ashburn-1.oci.oraclecloud.com/20160918/regions"
    with httpx.Client(timeout=10) as plain, \
            httpx.Client(timeout=10, proxy=sandbox.proxy_url,
                         verify=ssl.create_default_context(cafile=sandbox.ca_file)) as tls:
        # keep-alive connections stay open while the sockets are inspected
        assert plain.get(f"{sandbox.url}/_sandbox/health").status_code == 200
        for domain in sandbox.domains:
            assert plain.get(f"{domain['url']}/.well-known/openid-configuration").status_code == 200
        assert tls.get(regions).status_code == 401  # unsigned, but served by the https front
        sockets = tcp_sockets()
    accepted = [(local, nodelay) for local, _, nodelay in sockets if local[1] in listeners]
    upstream = [(local, nodelay) for local, peer, nodelay in sockets
                if peer[1] == sandbox.https_port and local[1] not in listeners]
    served = {local[1] for local, _ in accepted}
    assert served == listeners, f"no accepted connection seen on {listeners - served}"
    assert upstream, "the proxy's tunnel to the https front was not seen"
    without = [local for local, nodelay in accepted + upstream if not nodelay]
    assert not without, f"TCP_NODELAY off on sandbox sockets {without}"


# --- OAuth runtime state: in memory + append log -------------------------------------------


def start(state_dir: Path) -> Sandbox:
    return Sandbox(state_dir=state_dir).start()


def provision(sb: Sandbox) -> tuple[str, Any]:
    url = domain_url(sb)
    idc = admin_domains_client(sb, url)
    app = create_app(idc, "web", redirect_uris=[CB],
                     grants=["authorization_code", "refresh_token", "client_credentials"])
    create_trust(idc, url, [app.name])
    return url, app


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "state"


def test_token_traffic_never_rewrites_the_state_file(state_dir: Path) -> None:
    sb = start(state_dir)
    try:
        url, app = provision(sb)
        with httpx.Client(timeout=10) as http:
            client = Client(http, url, app.name, app.client_secret, CB)
            state_file = state_dir / "state.json"
            before = (state_file.stat().st_mtime_ns, state_file.read_bytes())
            tokens = client.login("alice", password(sb, "alice"), scope="openid offline_access")
            refreshed = client.token({"grant_type": "refresh_token",
                                      "refresh_token": tokens["refresh_token"]})
            assert refreshed.status_code == 200, refreshed.text
            exchanged = http.post(f"{url}/oauth2/v1/token", auth=(app.name, app.client_secret),
                                  data={"grant_type": EXCHANGE, "requested_token_type": UPST,
                                        "subject_token": tokens["access_token"],
                                        "subject_token_type": "jwt",
                                        "public_key": session_public_key()})
            assert exchanged.status_code == 200, exchanged.text
            revoked = http.post(f"{url}/oauth2/v1/revoke", auth=(app.name, app.client_secret),
                                data={"token": tokens["access_token"]})
            assert revoked.status_code == 200
            assert (state_file.stat().st_mtime_ns, state_file.read_bytes()) == before
        log = state_dir / LOG_FILE
        assert stat.S_IMODE(log.stat().st_mode) == 0o600
        assert tokens["refresh_token"] not in log.read_text()  # digests only
    finally:
        sb.stop()


def test_refresh_tokens_rotations_and_revocations_survive_a_restart(state_dir: Path) -> None:
    sb = start(state_dir)
    try:
        url, app = provision(sb)
        with httpx.Client(timeout=10) as http:
            client = Client(http, url, app.name, app.client_secret, CB)
            first = client.login("alice", password(sb, "alice"), scope="openid offline_access")
            second = client.token({"grant_type": "refresh_token",
                                   "refresh_token": first["refresh_token"]}).json()
            other = client.login("bob", password(sb, "bob"), scope="openid offline_access")
            assert http.post(f"{url}/oauth2/v1/revoke", auth=(app.name, app.client_secret),
                             data={"token": other["access_token"]}).status_code == 200
    finally:
        sb.stop()
    sb = start(state_dir)  # same state dir: a restart
    try:
        url = domain_url(sb)
        with httpx.Client(timeout=10) as http:
            client = Client(http, url, app.name, app.client_secret, CB)
            bearer = {"authorization": f"Bearer {other['access_token']}"}
            revoked = http.get(f"{url}/oauth2/v1/userinfo", headers=bearer)
            assert revoked.status_code == 401 and "revoked" in revoked.text
            live = client.token({"grant_type": "refresh_token",
                                 "refresh_token": other["refresh_token"]})
            assert live.status_code == 200, live.text  # bob's refresh token survived
            rotated = client.token({"grant_type": "refresh_token",
                                    "refresh_token": second["refresh_token"]})
            assert rotated.status_code == 200, rotated.text
            reuse = client.token({"grant_type": "refresh_token",
                                  "refresh_token": first["refresh_token"]})
            assert reuse.status_code == 400 and "reuse" in reuse.json()["error_description"]
            family_gone = client.token({"grant_type": "refresh_token",
                                        "refresh_token": rotated.json()["refresh_token"]})
            assert family_gone.status_code == 400  # reuse detection revoked the family
    finally:
        sb.stop()


def test_refresh_tokens_kept_in_state_json_by_an_older_sandbox_move_to_the_log(
    state_dir: Path,
) -> None:
    sb = start(state_dir)
    try:
        url, app = provision(sb)
        with httpx.Client(timeout=10) as http:
            client = Client(http, url, app.name, app.client_secret, CB)
            tokens = client.login("alice", password(sb, "alice"), scope="openid offline_access")
    finally:
        sb.stop()
    from oci_mcp_cli.sandbox.ledger import OAuthLedger

    # rewrite the state the way an older sandbox kept it: records in state.json, no log
    ledger = OAuthLedger(state_dir).load()
    state_file = state_dir / "state.json"
    data = json.loads(state_file.read_text())
    data["oauth"] = {"refresh_tokens": ledger.refresh, "revoked_jtis": ledger.revoked}
    state_file.write_text(json.dumps(data))
    (state_dir / LOG_FILE).unlink()
    sb = start(state_dir)
    try:
        assert json.loads(state_file.read_text())["oauth"] == {}
        with httpx.Client(timeout=10) as http:
            client = Client(http, domain_url(sb), app.name, app.client_secret, CB)
            again = client.token({"grant_type": "refresh_token",
                                  "refresh_token": tokens["refresh_token"]})
            assert again.status_code == 200, again.text
    finally:
        sb.stop()


def test_the_log_is_replayed_skipping_a_torn_line_and_compacted(tmp_path: Path) -> None:
    from oci_mcp_cli.sandbox.ledger import OAuthLedger

    ledger = OAuthLedger(tmp_path).load()
    now = time.time()
    ledger.put_refresh("live", {"guid": "g", "client_id": "c", "family": "f", "exp": now + 600,
                                "scope": "openid", "user_id": "u"})
    ledger.put_refresh("old", {"guid": "g", "client_id": "c", "family": "f", "exp": now - 1})
    ledger.spend_refresh("live")
    ledger.revoke("jti-live", now + 600)
    ledger.revoke("jti-old", now - 1)
    ledger.close()
    with open(tmp_path / LOG_FILE, "ab") as handle:
        handle.write(b'{"op":"put","k":"torn","v":{"exp":')  # a write cut short by a crash
    replayed = OAuthLedger(tmp_path).load()
    assert set(replayed.refresh) == {"live"} and replayed.refresh["live"]["used"] is True
    assert "scope" not in replayed.refresh["live"]  # spent: only what reuse detection needs
    assert set(replayed.revoked) == {"jti-live"}
    lines = (tmp_path / LOG_FILE).read_text().splitlines()
    assert len(lines) == 2  # compacted: one record per live entry
    replayed.close()
