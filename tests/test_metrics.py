"""Prometheus metrics (issue 19 §2): exact counts after a known sequence of calls by two users,
scraped by a real Prometheus server; no user name or id anywhere in the exposition; the
``--metrics-port`` rules of ``serve`` (default port busy: one warning; asked-for port busy:
exit 2)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from conftest import need_tool
from serve_support import (
    ServerStack,
    ok,
    provisioned_sandbox,
    server_stack,
    signed_in,
    wait_healthy,
)

from oci_mcp_cli.client.session import call_tool
from oci_mcp_cli.core.ports import free_port, reserve_port, socket_port
from oci_mcp_cli.core.waiting import poll_until
from oci_mcp_cli.orchestration.serve_process import cli_command, stop_process
from oci_mcp_cli.server.breakers import FAILURE_THRESHOLD

UNSEEN = "ocid1.compartment.oc1..aaaaaaaa" + "0" * 52  # no such compartment: ListBuckets → 404

# What the sequence of :func:`run_sequence` must leave in the counters (label dicts → value).
TOOL_CALLS = {
    (("tool", "whoami"), ("outcome", "ok")): 1,
    (("tool", "list_compartments"), ("outcome", "ok")): 2,
    (("tool", "list_buckets"), ("outcome", "ok")): 1,
    (("tool", "list_buckets"), ("outcome", "tool_error")): 1,
}
OCI_REQUESTS = {
    (("service", "identity"), ("operation", "list_compartments"), ("status", "200")): 2,
    (("service", "object_storage"), ("operation", "get_namespace"), ("status", "200")): 2,
    (("service", "object_storage"), ("operation", "list_buckets"), ("status", "200")): 1,
    (("service", "object_storage"), ("operation", "list_buckets"), ("status", "404")): 1,
}


@dataclass
class Sequence:
    stack: ServerStack
    metrics_url: str
    users: dict[str, dict[str, Any]]  # whoami of alice and bob (names and OCIDs to look for)


def run_sequence(st: ServerStack) -> dict[str, dict[str, Any]]:
    """alice: whoami, list_compartments, list_buckets (ok); bob: list_compartments (ok),
    list_buckets of a compartment that does not exist (OCI answers 404: a tool error)."""

    async def main() -> dict[str, dict[str, Any]]:
        seen: dict[str, dict[str, Any]] = {}
        async with signed_in(st, "alice", cache="alice") as alice:
            seen["alice"] = await ok(alice, "whoami")
            compartments = await ok(alice, "list_compartments")
            eng = next(c["id"] for c in compartments if c["name"] == "engineering")
            await ok(alice, "list_buckets", compartment_id=eng)
        async with signed_in(st, "bob", cache="bob") as bob:
            await ok(bob, "list_compartments")
            success, message = await call_tool(bob, "list_buckets", {"compartment_id": UNSEEN})
            assert not success and "HTTP 404" in str(message), message
            seen["bob"] = {"user_name": "bob"}
        return seen

    return anyio.run(main)


@pytest.fixture(scope="module")
def sequence(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sequence]:
    """One in-process server with metrics on a free port, after the known sequence."""
    tmp = tmp_path_factory.mktemp("metrics")
    with server_stack(tmp, metrics_port="0") as st:
        assert st.server is not None and st.server.metrics_url
        users = run_sequence(st)
        yield Sequence(st, st.server.metrics_url, users)


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """``name``'s samples in an exposition: sorted label pairs → value."""
    from prometheus_client.parser import text_string_to_metric_families

    found: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def normalized(expected: dict[Any, int]) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(key)): float(value) for key, value in expected.items()}


def test_exposition_counts_the_sequence_exactly(sequence: Sequence) -> None:
    text = httpx.get(sequence.metrics_url, timeout=10).text
    assert samples(text, "oci_mcp_tool_calls_total") == normalized(TOOL_CALLS)
    assert samples(text, "oci_mcp_oci_requests_total") == normalized(OCI_REQUESTS)
    assert samples(text, "oci_mcp_token_exchanges_total") == {(("outcome", "ok"),): 2.0}
    assert samples(text, "oci_mcp_signer_cache_size") == {(): 2.0}
    assert samples(text, "oci_mcp_sign_ins_total") == {(("grant", "authorization_code"),): 2.0}
    assert samples(text, "oci_mcp_tool_call_duration_seconds_count") == {
        (("tool", "whoami"),): 1.0, (("tool", "list_compartments"),): 2.0,
        (("tool", "list_buckets"),): 2.0,
    }
    assert samples(text, "oci_mcp_storage_up") == {(("backend", "file"),): 1.0}
    assert samples(text, "oci_mcp_breakers_open") == {}
    assert samples(text, "oci_mcp_session_cap_refusals_total") == {(): 0.0}
    storage_ops = samples(text, "oci_mcp_storage_operations_total")
    assert storage_ops and all(dict(k)["backend"] == "file" for k in storage_ops)


def test_exposition_names_no_user(sequence: Sequence) -> None:
    """No user name, user OCID, tenancy OCID or OAuth client id anywhere in the exposition."""
    text = httpx.get(sequence.metrics_url, timeout=10).text
    alice = sequence.users["alice"]
    forbidden = ["alice", "bob", alice["user_ocid"], alice["tenancy_ocid"], "ocid1."]
    forbidden += [u["username"] for u in sequence.stack.sb.users]
    for value in forbidden:
        assert value and value not in text, value


def test_metrics_listener_answers_only_its_path(sequence: Sequence) -> None:
    base = sequence.metrics_url.rsplit("/", 1)[0]
    answer = httpx.get(base + "/health", timeout=10)
    assert answer.status_code == 404 and "/metrics" in answer.text


# --- a real Prometheus server scrapes the replica ----------------------------------------------


def prometheus_config(path: Path, target: str) -> Path:
    path.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n  - job_name: oci-mcp\n"
        f"    static_configs:\n      - targets: ['{target}']\n"
    )
    return path


def query(api: str, promql: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{api}/api/v1/query", params={"query": promql}, timeout=10)
    answer.raise_for_status()
    body = answer.json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def by_labels(result: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[Any, float]:
    return {
        tuple((k, r["metric"][k]) for k in keys): float(r["value"][1]) for r in result
    }


def test_real_prometheus_scrapes_exact_counts(sequence: Sequence, tmp_path: Path) -> None:
    binary = need_tool("prometheus", "a real Prometheus server scrapes the metrics listener")
    target = sequence.metrics_url.split("//", 1)[1].split("/", 1)[0]
    config = prometheus_config(tmp_path / "prometheus.yml", target)
    port = free_port()  # Prometheus binds it itself (no way to hand it a socket)
    log = (tmp_path / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    api = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()
            try:
                return httpx.get(f"{api}/-/ready", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        assert poll_until(ready, timeout=60, interval=0.2), "prometheus did not become ready"
        final = sum(OCI_REQUESTS.values())

        def scraped() -> bool:  # a scrape after the sequence has landed
            up = query(api, 'up{job="oci-mcp"}')
            total = query(api, "sum(oci_mcp_oci_requests_total)")
            return bool(up) and up[0]["value"][1] == "1" and bool(total) and (
                float(total[0]["value"][1]) == final
            )

        assert poll_until(scraped, timeout=60, interval=0.25), "no scrape landed in time"
        calls = query(api, "oci_mcp_tool_calls_total")
        assert by_labels(calls, ("outcome", "tool")) == {
            tuple(sorted(k)): v for k, v in TOOL_CALLS.items()
        }
        requests = query(api, "oci_mcp_oci_requests_total")
        assert by_labels(requests, ("operation", "service", "status")) == {
            tuple(sorted(k)): v for k, v in OCI_REQUESTS.items()
        }
        exchanges = query(api, "oci_mcp_token_exchanges_total")
        assert by_labels(exchanges, ("outcome",)) == {(("outcome", "ok"),): 2}
        assert by_labels(query(api, "oci_mcp_signer_cache_size"), ()) == {(): 2}
        for histogram in ("oci_mcp_tool_call_duration_seconds",
                          "oci_mcp_oci_request_duration_seconds",
                          "oci_mcp_token_exchange_duration_seconds"):
            moved = query(api, f"sum({histogram}_count)")
            assert moved and float(moved[0]["value"][1]) > 0, histogram
        # The docs' p95 query, over the whole run (rate() needs the counters to move between
        # two scrapes; here every call came before the first one).
        p95 = query(api, "histogram_quantile(0.95, sum by (le, tool) "
                         "(oci_mcp_tool_call_duration_seconds_bucket))")
        latencies = {r["metric"]["tool"]: float(r["value"][1]) for r in p95}
        assert set(latencies) == {"whoami", "list_compartments", "list_buckets"}
        assert all(0 < v <= 60 for v in latencies.values()), latencies
    finally:
        stop_process(proc, grace=15)
        log.close()


# --- serve's --metrics-port rules ---------------------------------------------------------------


def serve_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCI_MCP_METRICS")}
    return {**env, "FASTMCP_HOME": str(tmp / "fastmcp-home"), **extra}


@contextmanager
def serve_logged(tmp_path: Path, env_file: Path, server_url: str) -> Iterator[Path]:
    """``oci-mcp serve`` on the .env's port, healthy, its output in the yielded log file."""
    log = tmp_path / "serve.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            cli_command("serve", "--env-file", str(env_file), "--port",
                        server_url.rsplit(":", 1)[1], "--storage-dir", str(tmp_path / "oauth")),
            stdout=sink, stderr=subprocess.STDOUT, env=serve_env(tmp_path),
        )
        try:
            wait_healthy(server_url, proc)
            yield log
        finally:
            stop_process(proc, grace=30)


def test_serve_default_metrics_port_busy_warns_once_and_serves(tmp_path: Path) -> None:
    """The default port (9464) taken: one warning, the server still serves."""
    from oci_mcp_cli.core.errors import UserError
    from oci_mcp_cli.server.metrics import DEFAULT_METRICS_PORT

    try:
        holder = reserve_port("127.0.0.1", DEFAULT_METRICS_PORT)
    except UserError:
        holder = None  # busy already (another server on this machine): just as good
    try:
        with (
            provisioned_sandbox(tmp_path) as (_, env_file, server_url),
            serve_logged(tmp_path, env_file, server_url) as log,
        ):
            assert httpx.get(server_url + "/health", timeout=10).status_code == 200
    finally:
        if holder is not None:
            holder.close()
    lines = log.read_text().splitlines()
    warnings = [line for line in lines if "metrics" in line]
    assert warnings == [
        f"warning: metrics are off: the default metrics port 127.0.0.1:{DEFAULT_METRICS_PORT} is "
        "in use (pass --metrics-port with a free port, or --metrics-port off)"
    ], lines


def test_serve_takes_the_metrics_port_from_the_env_file(tmp_path: Path) -> None:
    """``OCI_MCP_METRICS_PORT`` in the .env: `serve` says where, and a scrape there works."""
    metrics_port = free_port()
    with provisioned_sandbox(tmp_path) as (_, env_file, server_url):
        with env_file.open("a") as env:
            env.write(f"OCI_MCP_METRICS_PORT={metrics_port}\n")
        with serve_logged(tmp_path, env_file, server_url) as log:
            answer = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    assert "oci_mcp_signer_cache_size 0.0" in answer.text
    lines = log.read_text().splitlines()
    assert f"metrics: http://127.0.0.1:{metrics_port}/metrics" in lines, lines
    assert not [line for line in lines if line.startswith("warning:")], lines


def test_serve_explicit_busy_metrics_port_is_exit_2(tmp_path: Path) -> None:
    busy = reserve_port()
    busy_port = socket_port(busy)
    try:
        with provisioned_sandbox(tmp_path) as (_, env_file, server_url):
            port = server_url.rsplit(":", 1)[1]
            result = subprocess.run(
                cli_command("serve", "--env-file", str(env_file), "--port", port,
                            "--metrics-port", str(busy_port)),
                capture_output=True, text=True, timeout=120, env=serve_env(tmp_path),
            )
    finally:
        busy.close()
    assert result.returncode == 2, result.stderr
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    assert lines[0] == (
        f"error: cannot listen on 127.0.0.1:{busy_port}: the address is already in use"
    )
    assert "--metrics-port" in lines[1] and "Traceback" not in result.stderr
    assert "starting" not in result.stderr


def test_serve_rejects_a_metrics_port_that_is_no_port(tmp_path: Path) -> None:
    with provisioned_sandbox(tmp_path) as (_, env_file, server_url):
        result = subprocess.run(
            cli_command("serve", "--env-file", str(env_file), "--metrics-port", "nine"),
            capture_output=True, text=True, timeout=120, env=serve_env(tmp_path),
        )
    assert result.returncode == 2, result.stderr
    assert "--metrics-port 'nine' is not a port" in result.stderr
    assert "Traceback" not in result.stderr


# --- failure paths: revalidation, failed exchange, open breaker, rate limit ----------------------

COMPARTMENTS = "/20160918/compartments"
TOKEN = "/oauth2/v1/token"


def test_failures_are_counted_by_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each failure the operator must see lands in its own series, exactly once per event."""
    monkeypatch.setenv("OCI_MCP_RETRY_BASE_SECONDS", "0.01")  # short backoff between retries
    with server_stack(tmp_path, metrics_port="0", revalidate_after=0, tool_timeout=20) as st:
        assert st.server is not None and st.server.metrics_url
        outcomes: dict[str, list[str]] = {}

        async def main() -> None:
            async with signed_in(st, "alice", cache="alice") as alice:
                await ok(alice, "whoami")  # exchange ok
                await ok(alice, "whoami")  # revalidation ok (revalidate_after=0)
                st.sb.fault("POST", TOKEN, 503, count=2)  # outlasts the one retry
                success, _ = await call_tool(alice, "whoami", {})  # revalidation unavailable
                outcomes["domain down"] = [str(success)]
                st.sb.fault("GET", COMPARTMENTS, 503, count=10_000)
                for _ in range(8):  # each call up to 3 attempts: opens the 5-failure breaker
                    success, message = await call_tool(alice, "list_compartments", {})
                    outcomes.setdefault("compartments", []).append(str(message))
                    if "not attempted" in str(message):
                        break
            async with signed_in(st, "bob", cache="bob") as bob:
                st.sb.fault("POST", TOKEN, 503, count=2)
                success, message = await call_tool(bob, "whoami", {})  # exchange failed
                outcomes["exchange"] = [str(success), str(message)]

        anyio.run(main)
        refused = 0.0
        for _ in range(15):  # anonymous registrations beyond the burst
            answer = httpx.post(st.settings.server_url + "/register", json={
                "redirect_uris": ["http://127.0.0.1:9/callback"], "client_name": "x"})
            refused += answer.status_code == 429
        assert refused > 0
        text = httpx.get(st.server.metrics_url, timeout=10).text
    assert outcomes["domain down"] == ["False"] and outcomes["exchange"][0] == "False"
    assert "not attempted" in outcomes["compartments"][-1]
    assert samples(text, "oci_mcp_tool_calls_total") == normalized({
        (("tool", "whoami"), ("outcome", "ok")): 2,
        (("tool", "whoami"), ("outcome", "refused")): 1,  # revalidation: domain unreachable
        (("tool", "whoami"), ("outcome", "tool_error")): 1,  # bob's exchange failed
        (("tool", "list_compartments"), ("outcome", "tool_error")): 2,  # 503s
        (("tool", "list_compartments"), ("outcome", "breaker")): 1,
    })
    # every attempt until the breaker opened (3 + 2), none after it
    assert samples(text, "oci_mcp_oci_requests_total") == {
        (("operation", "list_compartments"), ("service", "identity"), ("status", "503")):
            float(FAILURE_THRESHOLD),
    }
    assert samples(text, "oci_mcp_breakers_open") == {
        (("client", "IdentityClient"), ("operation", "list_compartments")): 1.0,
    }
    assert samples(text, "oci_mcp_token_exchanges_total") == {
        (("outcome", "ok"),): 1.0, (("outcome", "failed"),): 1.0,
    }
    assert samples(text, "oci_mcp_token_exchange_failures_total") == {
        (("reason", "http_503"),): 1.0,
    }
    assert samples(text, "oci_mcp_token_exchange_duration_seconds_count") == {(): 2.0}
    revalidations = samples(text, "oci_mcp_revalidations_total")
    assert revalidations[(("result", "unavailable"),)] == 1.0
    assert set(revalidations) == {(("result", "ok"),), (("result", "unavailable"),)}
    # a miss is an exchange or a revalidation (revalidate_after=0: every lookup re-checks)
    assert samples(text, "oci_mcp_signer_cache_misses_total") == {
        (): 2.0 + sum(revalidations.values())
    }
    assert samples(text, "oci_mcp_rate_limited_total") == {(("group", "register"),): refused}


def test_storage_health_and_latency_follow_a_redis_outage(tmp_path: Path) -> None:
    """A real redis-server as the OAuth state store: ``oci_mcp_storage_up{backend="redis"}`` is
    1, 0 while it is down (failed operations counted), 1 again once it is back."""
    from replica_support import RedisServer

    from oci_mcp_cli.server.app import ServerThread
    from oci_mcp_cli.server.config import load_settings

    with provisioned_sandbox(tmp_path) as (_, env_file, url), RedisServer(tmp_path / "redis") as rs:
        settings = load_settings(env_file, storage=rs.url, log_level="ERROR", metrics_port="0")
        with ServerThread(settings) as server:
            assert server.metrics_url is not None

            def scrape() -> str:
                return httpx.get(str(server.metrics_url), timeout=10).text

            assert httpx.get(url + "/health", timeout=30).status_code == 200
            text = scrape()
            assert samples(text, "oci_mcp_storage_up") == {(("backend", "redis"),): 1.0}
            ok_ops = samples(text, "oci_mcp_storage_operations_total")
            assert ok_ops and {dict(k)["outcome"] for k in ok_ops} == {"ok"}
            assert sum(samples(text, "oci_mcp_storage_operation_duration_seconds_count")
                       .values()) == sum(ok_ops.values())
            rs.stop(save=True)
            try:
                assert httpx.get(url + "/health", timeout=30).status_code == 503
                text = scrape()
                assert samples(text, "oci_mcp_storage_up") == {(("backend", "redis"),): 0.0}
                failed = {k: v for k, v in samples(text, "oci_mcp_storage_operations_total")
                          .items() if dict(k)["outcome"] == "failed"}
                assert failed and all(dict(k)["backend"] == "redis" for k in failed)
            finally:
                rs.start()
            assert httpx.get(url + "/health", timeout=30).status_code == 200
            assert samples(scrape(), "oci_mcp_storage_up") == {(("backend", "redis"),): 1.0}


def test_open_sessions_gauge_counts_open_mcp_sessions(tmp_path: Path) -> None:
    """Two users open an MCP session each (raw ``initialize``): the gauge says 2; one closes
    it (``DELETE``): the next scrape says 1, with no request in between."""
    from oauth_flow import password
    from serve_support import initialize, sign_in

    with server_stack(tmp_path, metrics_port="0") as st, httpx.Client(timeout=30) as http:
        assert st.server is not None and st.server.metrics_url
        base = st.settings.server_url
        ids = []
        for user in ("alice", "bob"):
            login = sign_in(http, base, base, user, password(st.sb, user))
            answer = initialize(http, base, base, login.access_token)
            assert answer.status_code == 200, answer.text
            ids.append(answer.headers.get("mcp-session-id"))
        assert all(ids) and len(set(ids)) == 2
        text = httpx.get(st.server.metrics_url, timeout=10).text
        assert samples(text, "oci_mcp_open_sessions") == {(): 2.0}
        closed = http.delete(f"{base}/mcp", headers={
            "Authorization": f"Bearer {login.access_token}", "mcp-session-id": ids[-1]})
        assert closed.status_code == 200, closed.text
        text = httpx.get(st.server.metrics_url, timeout=10).text
    assert samples(text, "oci_mcp_open_sessions") == {(): 1.0}
