"""What ``oci-mcp status`` shows: a snapshot of a running server from its ``/health`` and its
Prometheus ``/metrics`` (server/metrics.py names the metrics; docs/operations.md "Status").

Rates and latency percentiles are computed between two scrapes (the window); totals are since
the server started. A percentile comes from the histogram's buckets as Prometheus'
``histogram_quantile`` does (linear within a bucket). Depends on ``core`` only: a status client
never imports the server.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from oci_mcp_cli.core.errors import RemoteError, UserError

DEFAULT_INTERVAL_S = 2.0
TIMEOUT_S = 5.0
Labels = tuple[tuple[str, str], ...]
Samples = dict[str, dict[Labels, float]]  # sample name → sorted labels → value


@dataclass
class Scrape:
    """One reading of ``/health`` and ``/metrics``."""

    at: float  # time.monotonic() when read
    health: dict[str, Any]
    samples: Samples

    def values(self, name: str) -> dict[Labels, float]:
        return self.samples.get(name, {})

    def total(self, name: str, **match: str) -> float:
        return sum(
            v for labels, v in self.values(name).items() if _matches(labels, match)
        )


@dataclass
class ToolRow:
    tool: str
    calls: int
    errors: int
    calls_per_s: float
    p50_s: float | None
    p95_s: float | None


@dataclass
class Snapshot:
    """What the view and ``--json`` show (JSON-ready through :meth:`as_dict`)."""

    url: str
    metrics_url: str
    status: str  # /health's status: ok / unavailable
    storage: str  # /health's storage: ok / unavailable
    storage_backend: str | None
    window_s: float  # the time between the two scrapes the rates come from
    calls: int  # tool calls since the server started
    calls_per_s: float
    p50_s: float | None  # tool-call latency percentiles in the window (None: no call in it)
    p95_s: float | None
    p50_since_start_s: float | None
    p95_since_start_s: float | None
    errors: dict[str, int]  # tool calls by outcome other than ok, since start
    signed_in_users: int  # user signers cached now
    open_sessions: int | None
    exchanges: dict[str, int]  # token exchanges by outcome
    exchange_failures: dict[str, int]  # by reason
    oci_requests: dict[str, int]  # by HTTP status (or timeout/connection/error)
    open_breakers: list[dict[str, Any]]  # {client, operation, count}
    refusals: dict[str, int]  # rate_limited, session_cap
    revalidations: dict[str, int]  # by result
    tools: list[ToolRow] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- reading ------------------------------------------------------------------------------------


def check_url(url: str, option: str) -> str:
    """``url`` if it is an http(s) URL with a host, else a UserError naming ``option``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(
            f"{option} {url!r} is not an http(s) URL",
            hint=f"pass e.g. {option} http://127.0.0.1:8000"
            + ("/metrics" if "metrics" in option else ""),
        )
    return url.rstrip("/")


def read_health(client: Any, url: str) -> dict[str, Any]:
    """``GET url/health`` (a 503 still answers: the storage is down)."""
    import httpx

    try:
        answer = client.get(f"{url}/health", timeout=TIMEOUT_S)
        body: dict[str, Any] = answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise RemoteError(
            f"cannot reach the server at {url}/health ({_why(exc)})",
            hint="is `oci-mcp serve` running there? pass its URL with --url",
        ) from None
    if answer.status_code not in (200, 503) or "status" not in body:
        raise RemoteError(
            f"{url}/health answered HTTP {answer.status_code}, not an oci-mcp server's health",
            hint="pass the server's URL (MCP_SERVER_URL, without /mcp) with --url",
        )
    return body


def read_metrics(client: Any, metrics_url: str) -> Samples:
    """``GET metrics_url``, parsed (Prometheus text format)."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    try:
        answer = client.get(metrics_url, timeout=TIMEOUT_S)
        answer.raise_for_status()
        samples: Samples = {}
        for family in text_string_to_metric_families(answer.text):
            for sample in family.samples:
                labels = tuple(sorted(sample.labels.items()))
                samples.setdefault(sample.name, {})[labels] = sample.value
    except httpx.HTTPError as exc:
        raise RemoteError(
            f"cannot read the server's metrics at {metrics_url} ({_why(exc)})",
            hint="pass the metrics listener with --metrics-url (serve prints it: `metrics: …`); "
            "a server started with --metrics-port off has none",
        ) from None
    except ValueError:
        samples = {}  # not Prometheus text format
    if not any(name.startswith("oci_mcp_") for name in samples):
        raise RemoteError(
            f"{metrics_url} serves no oci-mcp metrics",
            hint="pass the metrics listener of `oci-mcp serve` with --metrics-url (serve prints "
            "it: `metrics: …`)",
        )
    return samples


def scrape(client: Any, url: str, metrics_url: str) -> Scrape:
    return Scrape(time.monotonic(), read_health(client, url), read_metrics(client, metrics_url))


def _why(exc: BaseException) -> str:
    import httpx

    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, ValueError):
        return "not the expected format"
    return type(exc).__name__


# --- computing ----------------------------------------------------------------------------------


def _matches(labels: Labels, match: dict[str, str]) -> bool:
    given = dict(labels)
    return all(given.get(k) == v for k, v in match.items())


def _by(scrape: Scrape, name: str, label: str) -> dict[str, int]:
    totals: dict[str, int] = {}
    for labels, value in scrape.values(name).items():
        key = dict(labels).get(label, "")
        totals[key] = totals.get(key, 0) + int(value)
    return {k: v for k, v in sorted(totals.items()) if v}


def _buckets(scrape: Scrape | None, name: str, **match: str) -> dict[float, float]:
    """Cumulative bucket counts by upper bound, summed over the series that match."""
    if scrape is None:
        return {}
    found: dict[float, float] = {}
    for labels, value in scrape.values(f"{name}_bucket").items():
        given = dict(labels)
        if _matches(labels, match):
            bound = float(given["le"])
            found[bound] = found.get(bound, 0.0) + value
    return found


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """``histogram_quantile(q, …)`` of cumulative buckets (None when they count nothing)."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    total = buckets[bounds[-1]]
    rank = q * total
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower  # in the +Inf bucket: the highest finite bound, as Prometheus
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def window_quantile(q: float, before: Scrape | None, after: Scrape, name: str,
                    **match: str) -> float | None:
    """The ``q`` quantile of the observations between two scrapes (since start without
    ``before``)."""
    now, then = _buckets(after, name, **match), _buckets(before, name, **match)
    return quantile(q, {b: now[b] - then.get(b, 0.0) for b in now})


def snapshot(before: Scrape | None, after: Scrape, url: str, metrics_url: str) -> Snapshot:
    """The view of ``after``, with rates and percentiles over the window since ``before``."""
    calls_name, hist = "oci_mcp_tool_calls_total", "oci_mcp_tool_call_duration_seconds"
    window = after.at - before.at if before is not None else 0.0

    def rate(name: str, **match: str) -> float:
        if before is None or window <= 0:
            return 0.0
        return max(0.0, after.total(name, **match) - before.total(name, **match)) / window

    tools = sorted({dict(labels)["tool"] for labels in after.values(calls_name)})
    rows = [
        ToolRow(
            tool=tool,
            calls=int(after.total(calls_name, tool=tool)),
            errors=int(after.total(calls_name, tool=tool) - after.total(calls_name, tool=tool,
                                                                         outcome="ok")),
            calls_per_s=round(rate(calls_name, tool=tool), 3),
            p50_s=window_quantile(0.5, before, after, hist, tool=tool),
            p95_s=window_quantile(0.95, before, after, hist, tool=tool),
        )
        for tool in tools
    ]
    errors = {k: v for k, v in _by(after, calls_name, "outcome").items() if k != "ok"}
    storage_up = after.values("oci_mcp_storage_up")
    sessions = after.values("oci_mcp_open_sessions")
    return Snapshot(
        url=url,
        metrics_url=metrics_url,
        status=str(after.health.get("status", "?")),
        storage=str(after.health.get("storage", "?")),
        storage_backend=next((dict(k).get("backend") for k in storage_up), None),
        window_s=round(window, 3),
        calls=int(after.total(calls_name)),
        calls_per_s=round(rate(calls_name), 3),
        p50_s=window_quantile(0.5, before, after, hist),
        p95_s=window_quantile(0.95, before, after, hist),
        p50_since_start_s=window_quantile(0.5, None, after, hist),
        p95_since_start_s=window_quantile(0.95, None, after, hist),
        errors=errors,
        signed_in_users=int(after.total("oci_mcp_signer_cache_size")),
        open_sessions=int(after.total("oci_mcp_open_sessions")) if sessions else None,
        exchanges=_by(after, "oci_mcp_token_exchanges_total", "outcome"),
        exchange_failures=_by(after, "oci_mcp_token_exchange_failures_total", "reason"),
        oci_requests=_by(after, "oci_mcp_oci_requests_total", "status"),
        open_breakers=[
            {**dict(labels), "count": int(v)}
            for labels, v in sorted(after.values("oci_mcp_breakers_open").items()) if v
        ],
        refusals={
            "rate_limited": int(after.total("oci_mcp_rate_limited_total")),
            "session_cap": int(after.total("oci_mcp_session_cap_refusals_total")),
        },
        revalidations=_by(after, "oci_mcp_revalidations_total", "result"),
        tools=rows,
    )


# --- the service functions the command calls ------------------------------------------------------


def default_urls(env_file: Any, url: str | None, metrics_url: str | None) -> tuple[str, str]:
    """``--url`` (else ``MCP_SERVER_URL`` of the .env, else http://127.0.0.1:8000) and
    ``--metrics-url`` (else loopback on ``OCI_MCP_METRICS_PORT`` of the .env, else 9464)."""
    from oci_mcp_cli.core import envfile as ef

    env = ef.load_env(env_file)
    server = url or env.get(ef.MCP_SERVER_URL) or "http://127.0.0.1:8000"
    port = (env.get(ef.OCI_MCP_METRICS_PORT) or "").strip()
    port = port if port.isdigit() and port != "0" else "9464"
    return server, metrics_url or f"http://127.0.0.1:{port}/metrics"



def take_snapshot(url: str, metrics_url: str, interval: float = DEFAULT_INTERVAL_S,
                  wait: Callable[[float], None] = time.sleep) -> Snapshot:
    """Two scrapes ``interval`` seconds apart → one snapshot (``--json`` / ``--once``)."""
    import httpx

    url, metrics_url = check_url(url, "--url"), check_url(metrics_url, "--metrics-url")
    with httpx.Client(trust_env=False) as client:
        before = scrape(client, url, metrics_url)
        wait(max(0.0, interval))
        return snapshot(before, scrape(client, url, metrics_url), url, metrics_url)


def watch(url: str, metrics_url: str, interval: float = DEFAULT_INTERVAL_S,
          wait: Callable[[float], None] = time.sleep) -> Iterator[Snapshot | RemoteError]:
    """A snapshot every ``interval`` seconds (the first one since the server started), or the
    RemoteError of a scrape that failed (the view shows it and keeps trying). The first
    scrape's failure is raised: nothing to show yet."""
    import httpx

    url, metrics_url = check_url(url, "--url"), check_url(metrics_url, "--metrics-url")
    with httpx.Client(trust_env=False) as client:
        before = scrape(client, url, metrics_url)
        yield snapshot(None, before, url, metrics_url)
        while True:
            wait(max(0.05, interval))
            try:
                after = scrape(client, url, metrics_url)
            except RemoteError as exc:
                yield exc
                continue
            yield snapshot(before, after, url, metrics_url)
            before = after
