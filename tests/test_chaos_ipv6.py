"""Chaos: rate-limit buckets when the clients come from one IPv6 network (real ``oci-mcp serve``
behind a trusted proxy, which the test plays by sending ``X-Forwarded-For`` from 127.0.0.1).
docs/security.md "Session cap and rate-limit keys under concurrency".

Anyone routed a /64 (the smallest IPv6 allocation a site gets) has 2^64 addresses: keyed by the
full address, every request could come from a fresh bucket.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from cli_support import run_cli
from serve_support import provisioned_sandbox, serve_process

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]
ADDRESSES = 300
BURST = 10
RATE = 1.0  # per minute: a refill that a slow run cannot turn into a second burst
REGISTRATION = {"client_name": "chaos", "redirect_uris": ["http://127.0.0.1:9/callback"],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"], "token_endpoint_auth_method": "none"}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    tmp = tmp_path_factory.mktemp("chaos-ipv6")
    with provisioned_sandbox(tmp) as (_, env_file, server_url):
        yield env_file, server_url


def _serve(env: tuple[Path, str], *flags: str) -> Any:
    env_file, server_url = env
    return serve_process(server_url, "--env-file", str(env_file), "--log-level", "WARNING",
                         "--rate-limit", f"{RATE:g}", "--rate-burst", str(BURST),
                         "--trusted-proxy", "127.0.0.1", *flags)


async def _register_from(base: str, addresses: list[str]) -> list[int]:
    """One ``POST /register`` per address, all at once, each forwarded for that address."""
    limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
    async with httpx.AsyncClient(limits=limits, timeout=60) as http:
        answers = await asyncio.gather(*(
            http.post(base + "/register", json=REGISTRATION, headers={"X-Forwarded-For": a})
            for a in addresses
        ))
    return [a.status_code for a in answers]


def _accepted(base: str, addresses: list[str]) -> tuple[int, float]:
    started = time.monotonic()
    statuses = anyio.run(_register_from, base, addresses)
    assert set(statuses) <= {201, 429}, statuses
    return statuses.count(201), time.monotonic() - started


def _bound(elapsed_s: float) -> int:
    """Most requests one bucket can accept in ``elapsed_s``: the burst plus the refill."""
    return BURST + int(elapsed_s * RATE / 60) + 1


def test_one_ipv6_64_shares_one_bucket(env: tuple[Path, str]) -> None:
    _, base = env
    one_64 = [f"2001:db8:1:2:{i:x}:{i * 7 % 65536:x}::{i + 1:x}" for i in range(ADDRESSES)]
    with _serve(env):
        accepted, elapsed = _accepted(base, one_64)
        assert accepted <= _bound(elapsed), (
            f"GUARANTEE ipv6-64-bucket: {accepted} of {ADDRESSES} registrations from one IPv6 /64 "
            f"were accepted in {elapsed:.1f} s (at most {_bound(elapsed)} expected)"
        )
        # the neighbouring /64 and IPv4 clients keep their own buckets
        neighbour, _ = _accepted(base, ["2001:db8:1:3::1"])
        ipv4, elapsed = _accepted(base, ["192.0.2.1"] * (BURST + 5))
        ipv4_next, _ = _accepted(base, ["192.0.2.2"])
        assert neighbour == 1 and ipv4_next == 1, (
            "GUARANTEE ipv6-64-bucket: a client outside the flooding /64 was limited"
        )
        assert ipv4 <= _bound(elapsed), (
            f"GUARANTEE ipv4-address-bucket: {ipv4} accepted from one IPv4 address"
        )
        # an IPv4-mapped IPv6 address is that IPv4 client, not a fresh bucket
        mapped, _ = _accepted(base, ["::ffff:192.0.2.1"])
        assert mapped == 0, "GUARANTEE ipv4-address-bucket: ::ffff:192.0.2.1 escaped its bucket"


def test_the_ipv6_prefix_is_configurable(env: tuple[Path, str]) -> None:
    _, base = env
    # a /56 (what many ISPs delegate to one customer) spans 256 /64s
    one_56 = [f"2001:db8:1:{i:x}::1" for i in range(0x200, 0x200 + 40)]
    with _serve(env, "--ipv6-rate-limit-prefix", "56"):
        accepted, elapsed = _accepted(base, one_56)
        assert accepted <= _bound(elapsed), (
            f"GUARANTEE ipv6-prefix-configurable: {accepted} of 40 accepted from one /56 "
            "with --ipv6-rate-limit-prefix 56"
        )
    with _serve(env, "--ipv6-rate-limit-prefix", "128"):
        accepted, _ = _accepted(base, [f"2001:db8:1:2::{i + 1:x}" for i in range(40)])
        assert accepted == 40, (
            f"GUARANTEE ipv6-prefix-configurable: /128 keys each address ({accepted} of 40)"
        )


@pytest.mark.parametrize("prefix", ["0", "129", "abc"])
def test_a_bad_ipv6_prefix_is_refused_clearly(env: tuple[Path, str], prefix: str) -> None:
    env_file, _ = env
    result = run_cli("serve", "--env-file", str(env_file), "--ipv6-rate-limit-prefix", prefix)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--ipv6-rate-limit-prefix" in result.stderr
    if prefix != "abc":  # typer's own "not a valid integer" message otherwise
        assert "between 1 and 128" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("address", "prefix", "key"), [
    ("2001:db8:1:2::1", 64, "2001:db8:1:2::/64"),
    ("2001:DB8:1:2:ffff:ffff:ffff:fffe", 64, "2001:db8:1:2::/64"),
    ("2001:db8:1:2::1", 128, "2001:db8:1:2::1/128"),
    ("2001:db8:1:2ff::1", 56, "2001:db8:1:200::/56"),
    ("fe80::1%eth0", 64, "fe80::/64"),  # a zone index names no other client
    ("::ffff:192.0.2.1", 64, "192.0.2.1"),  # IPv4-mapped: the IPv4 client itself
    ("192.0.2.1", 64, "192.0.2.1"),
    ("unknown", 64, "unknown"),  # no peer address (a Unix socket)
])
def test_rate_limit_keys(address: str, prefix: int, key: str) -> None:
    from oci_mcp_cli.server.oauth_guard import rate_key

    assert rate_key(address, prefix) == key, "GUARANTEE ipv6-64-bucket: bucket key"
