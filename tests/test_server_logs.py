"""Server logs: expected tool errors logged once at the right level; OAuth transaction ids and
authorization codes redacted in FastMCP's prose log lines too (at DEBUG)."""

from __future__ import annotations

import logging
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import anyio
import pytest
from oauth_flow import password
from serve_support import provisioned_sandbox, serve_process

from oci_mcp_cli.client.session import ClientOptions, call_tool, make_client
from oci_mcp_cli.core.envfile import load_env
from oci_mcp_cli.server.logs import DuplicateToolErrorFilter, RedactingFilter

# FastMCP 4.2.3's own templates (fastmcp/server/auth/oauth_proxy/proxy.py), filled with ids
# shaped like the real ones (secrets.token_urlsafe).
TXN = "q9K3vZ_x7Lm2Pn8Rt4Wy6Ab1Cd5Ef0Gh"
CODE = "Zx8-Yw7_Vu6Ts5Rq4Po3Nm2Lk1Ji0Hg9F"
FASTMCP_LINES = [
    ("Starting OAuth transaction %s for client %s, redirecting to consent page "
     "(PKCE forwarding: %s)", (TXN, "client-1", True)),
    ("Starting OAuth transaction %s for client %s, redirecting directly to upstream IdP "
     "(consent disabled, PKCE forwarding: %s)", (TXN, "client-1", True)),
    ("Authorization code not found: %s", (CODE,)),
    ("Authorization code expired: %s", (CODE,)),
    ("IdP callback with invalid transaction ID: %s", (TXN,)),
    ("Transaction %s missing consent_token", (TXN,)),
    (f"Forwarding to client callback for transaction {TXN}", ()),
]


@pytest.mark.parametrize(("template", "args"), FASTMCP_LINES)
def test_fastmcp_prose_ids_and_codes_are_redacted(template: str, args: tuple[Any, ...]) -> None:
    record = logging.LogRecord("fastmcp.x", logging.DEBUG, __file__, 1, template, args, None)
    assert RedactingFilter().filter(record)
    message = record.getMessage()
    assert TXN not in message and CODE not in message
    assert "[redacted]" in message
    assert "client-1" in message or "client-1" not in template % args  # client ids stay


def test_ordinary_prose_is_left_alone() -> None:
    redacting = RedactingFilter()
    for text in ("IdP callback missing code or transaction ID", "lifecycle_state=ACTIVE"):
        assert redacting.redact(text) == text


def test_duplicate_filter_drops_only_fastmcps_traceback_free_tool_error_line() -> None:
    dup = DuplicateToolErrorFilter()

    def record(name: str, msg: str, exc: bool) -> logging.LogRecord:
        info = (RuntimeError, RuntimeError("bug"), None) if exc else None
        return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, (), info)

    assert not dup.filter(record("fastmcp.server.server", "Error calling tool 'x'", False))
    assert dup.filter(record("fastmcp.server.server", "Error calling tool 'x'", True))
    assert dup.filter(record("fastmcp.server.server", "something else", False))


def test_real_server_logs_an_expected_tool_error_once_and_no_transaction_id(
    tmp_path: Path,
) -> None:
    """`oci-mcp serve --log-level DEBUG`: a 404 from OCI is one INFO line (``outcome=error``),
    with no ERROR line or traceback from FastMCP; FastMCP's DEBUG lines about the sign-in name
    no transaction id."""
    log = tmp_path / "serve.log"
    with provisioned_sandbox(tmp_path) as (sb, env_file, server_url):
        port = server_url.rsplit(":", 1)[1]
        env = {**os.environ, "FASTMCP_HOME": str(tmp_path / "fastmcp-home")}
        with log.open("w") as sink, serve_process(
            server_url, "--env-file", str(env_file), "--port", port, "--log-level", "DEBUG",
            "--storage-dir", str(tmp_path / "oauth"), stdout=sink, stderr=subprocess.STDOUT,
            env=env,
        ):

            async def main() -> tuple[bool, Any]:
                options = ClientOptions(
                    url=server_url + "/mcp", username="bob", password=password(sb, "bob"),
                    cache_root=tmp_path / "cache",
                )
                async with make_client(options) as client:
                    unseen = "ocid1.compartment.oc1..aaaaaaaa" + "0" * 52
                    return await call_tool(client, "list_buckets", {"compartment_id": unseen})

            success, message = anyio.run(main)
        assert not success and "ListBuckets failed: HTTP 404" in message
        secrets = load_env(env_file)
    text = log.read_text()
    lines = text.splitlines()
    failing = [line for line in lines if "ListBuckets failed" in line]
    assert len(failing) == 1, failing
    assert " INFO oci_mcp.server: tool call " in failing[0] and "outcome=error" in failing[0]
    assert "Error calling tool" not in text and "Traceback" not in text
    starts = [line for line in lines if "Starting OAuth transaction" in line]
    assert starts, "the DEBUG sign-in line is expected in the log"
    for line in starts:
        assert re.search(r"OAuth transaction \[redacted\] for client", line), line
    assert secrets.get("IAM_CLIENT_SECRET") not in text
