"""Benchmark: per-user OCI calls with the UPST signer cache vs a new signer on every call.

oracle/mcp builds a new ``TokenExchangeSigner`` (RSA key generation + an IAM round trip) for every
tool call; oci-mcp caches one signer per upstream token. This measures both against the sandbox in
one run (real SDK, real HTTP) and reports the ratio — absolute numbers depend on the machine, the
ratio is what to compare. Run: ``python bench/bench_signer_cache.py [--calls N]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from _common import exchange_app


def main() -> None:
    from oci.auth.signers import TokenExchangeSigner
    from oci.object_storage import ObjectStorageClient

    from oci_mcp_cli.sandbox import Sandbox
    from oci_mcp_cli.server.signers import SignerCache, token_exchange_factory

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=30)
    calls = parser.parse_args().calls

    with tempfile.TemporaryDirectory() as tmp, Sandbox(state_dir=Path(tmp)) as sb:
        url, app, token = exchange_app(
            sb, "bench", "http://127.0.0.1:9/cb", public_jwks=True, all_url_schemes=True
        )

        def namespace(signer: object) -> str:
            client = ObjectStorageClient({"region": "us-ashburn-1"}, signer=signer,
                                         service_endpoint=sb.url)
            return client.get_namespace().data

        def timed(fn) -> list[float]:  # type: ignore[no-untyped-def]
            samples = []
            for _ in range(calls):
                start = time.perf_counter()
                fn()
                samples.append((time.perf_counter() - start) * 1000)
            return samples

        per_call = timed(lambda: namespace(TokenExchangeSigner(token, url, app.name,
                                                               app.client_secret)))
        cache = SignerCache(token_exchange_factory(url, app.name, app.client_secret))
        claims = {"sub": "alice", "jti": "bench"}
        cached = timed(lambda: namespace(cache.get(token, claims)))

    new_ms, cached_ms = statistics.median(per_call), statistics.median(cached)
    print(f"calls per variant: {calls}")
    print(f"new signer per call (oracle/mcp style): median {new_ms:.1f} ms")
    print(f"cached signer (oci-mcp):                median {cached_ms:.1f} ms")
    print(f"ratio: {new_ms / cached_ms:.1f}x")


if __name__ == "__main__":
    main()
