"""``bench/bench_e2e.py`` measures what it says (issue 19 §5, issue 22): the flags of each mode,
its load client under ``serve``'s default session cap, and its audit/metrics sanity counts.
Behaviour only — the numbers live in docs/benchmarks.md."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import bench_e2e  # noqa: E402
import e2e_load  # noqa: E402
from oauth_flow import password  # noqa: E402
from serve_support import server_stack, sign_in  # noqa: E402


def test_modes_pass_serve_exactly_the_flags_they_claim() -> None:
    defaults = bench_e2e.serve_flags(defaults=True, observability=True, metrics_port=4321)
    assert defaults == ["--metrics-port", "4321"], "--defaults: serve as out of the box"
    tuned = bench_e2e.serve_flags(defaults=False, observability=True, metrics_port=4321)
    assert tuned == [*bench_e2e.TUNED, "--metrics-port", "4321"]
    assert "--audit-log" not in tuned, "audit on its default (-) in the tuned mode too"
    off = bench_e2e.serve_flags(defaults=True, observability=False, metrics_port=4321)
    assert off == ["--audit-log", "off", "--metrics-port", "off"]


def test_a_and_b_follow_the_heavy_variant_equally_often() -> None:
    """Over a sitting, A and B each run first (right after the previous block's C) in half the
    blocks, C always last: neither side of the A/B ratio inherits C's load more than the other."""
    blocks = [bench_e2e.block_order(n) for n in range(5 * len(bench_e2e.CONCURRENCIES))]
    assert all(sorted(order) == ["A", "B", "C"] and order[-1] == "C" for order in blocks)
    first = [order[0] for order in blocks]
    assert abs(first.count("A") - first.count("B")) <= 1
    for conc in range(len(bench_e2e.CONCURRENCIES)):  # and at each concurrency too
        at_conc = first[conc::len(bench_e2e.CONCURRENCIES)]
        assert abs(at_conc.count("A") - at_conc.count("B")) <= 1


def test_audit_and_metric_counts(tmp_path: Path) -> None:
    audit = tmp_path / "a.out"
    audit.write_text(
        '{"event":"tool_call","tool":"x"}\n{"event":"sign_in"}\nnot json\n'
        '{"event":"tool_call","tool":"y"}\n'
    )
    assert bench_e2e.audit_tool_calls(audit) == 2
    text = (
        "# HELP oci_mcp_tool_calls_total Tool calls.\n"
        'oci_mcp_tool_calls_total{outcome="ok",tool="a"} 3.0\n'
        'oci_mcp_tool_calls_total{outcome="error",tool="a"} 2.0\n'
        'oci_mcp_tool_calls_created{outcome="ok",tool="a"} 1.7e9\n'
    )
    assert bench_e2e.metric_total(text, "oci_mcp_tool_calls_total") == 5.0
    assert bench_e2e.metric_total("", "oci_mcp_tool_calls_total") == 0


def test_load_client_shares_sessions_under_a_session_cap(tmp_path: Path) -> None:
    """``--defaults`` keeps serve's cap of sessions per user: the load client's workers share
    ``--sessions`` sessions, so concurrency above the cap makes no errors — while one session
    per worker over the cap is refused (the failure the sharing avoids)."""
    with server_stack(tmp_path, max_sessions_per_user=2, rate_limit=0) as st, httpx.Client(
        timeout=60
    ) as http:
        base = st.settings.server_url
        token = sign_in(http, base, base, "alice", password(st.sb, "alice")).access_token
        shared = asyncio.run(e2e_load.run(st.url, token, "get_namespace", 6, 30, shared=2))
        assert shared["errors"] == 0, shared["first_error"]
        assert len(shared["latencies_ms"]) == 30
        over = None
        try:
            over = asyncio.run(e2e_load.run(st.url, token, "get_namespace", 6, 30))
        except RuntimeError as exc:  # initialize refused past the cap
            assert "429" in str(exc) or "404" in str(exc), exc
        if over is not None:
            assert over["errors"] > 0, "six sessions of one user under a cap of two"
