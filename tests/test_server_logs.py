"""Server logs: expected tool errors logged once at the right level; OAuth transaction ids and
authorization codes redacted in FastMCP's prose log lines too (at DEBUG)."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from oauth_flow import password
from serve_support import initialize, provisioned_sandbox, serve_process, sign_in

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


def _every_pattern(text: str) -> str:
    """The redaction with every pattern run on every text (before the substring tests)."""
    from oci_mcp_cli.core.redact import redact as redact_jwts
    from oci_mcp_cli.server.logs import PARAM_RE, PROSE_RE

    text = redact_jwts(text)
    text = PARAM_RE.sub(r"\1=[redacted]", text)
    return PROSE_RE.sub(r"\1[redacted]", text)


def test_the_substring_tests_before_each_pattern_change_no_result() -> None:
    """``RedactingFilter.redact`` runs a pattern only on text holding its literal part; on any
    text the result is what running every pattern gives — case variants and the non-ASCII
    letters Python's IGNORECASE folds to ASCII (``İ``, ``ı``, ``ſ``, the Kelvin sign) included."""
    jwt = "eyJhbGciOi.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    fragments = [
        *(template % args for template, args in FASTMCP_LINES),
        f"Bearer {jwt}", "GET /auth/callback?code=abc123&state=xyz789", "password=hunter22",
        "TRANSACTION: q9K3vZ_x7Lm2", "Authorization Code expired: Zx8-Yw7_Vu6", "xcode=keep",
        "tranſaction q9K3vZ_x7Lm2", "authorİzation code: Zx8-Yw7_Vu6",
        "authorızation code: 12345678",
        "\u212aey transaction ID: q9K3vZ_x7Lm2", "tool call user=alice tool=t outcome=ok ms=5",
        "Code=upper-case-is-not-a-param", "",
    ]
    redacting = RedactingFilter()
    for first in fragments:
        for second in fragments:
            text = f"{first} {second}"
            assert redacting.redact(text) == _every_pattern(text), text
    assert "q9K3vZ_x7Lm2" not in redacting.redact("tranſaction q9K3vZ_x7Lm2")


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


def _one_session(base: str, token: str) -> None:
    """initialize, initialized, a ``whoami`` call, a request without a token (401), /health."""
    with httpx.Client(timeout=30) as http:
        init = initialize(http, base, base, token)
        assert init.status_code == 200, init.text
        headers = {"Authorization": f"Bearer {token}", "mcp-session-id": init.headers[
            "mcp-session-id"], "Accept": "application/json, text/event-stream"}
        http.post(f"{base}/mcp", headers=headers,
                  json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        called = http.post(f"{base}/mcp", headers=headers, json={
            "jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "whoami", "arguments": {}}})
        assert called.status_code == 200 and '"isError":false' in called.text, called.text
        assert http.post(f"{base}/mcp", json={}).status_code == 401
        assert http.get(f"{base}/health").status_code == 200


def test_a_tool_call_is_one_record_and_every_other_request_keeps_its_access_line(
    tmp_path: Path,
) -> None:
    """`serve` at its default INFO: a tool call's request is recorded once (not also by
    uvicorn's access line: two lines per call cost ~4 % of a call's CPU, docs/benchmarks.md) —
    by its audit event while the audit trail is on (the default: the event, which has the
    client's address too, stands for it, and the call's `tool call` line is DEBUG), by its
    INFO `tool call` line with `--audit-log off`. Every other request — initialize, the
    notification, a 401, /health — keeps uvicorn's access line (method, path, status).
    `--access-log` brings uvicorn's line back for every request, the tool call's included."""
    modes: tuple[tuple[str, ...], ...] = ((), ("--audit-log", "off"), ("--access-log",))
    with provisioned_sandbox(tmp_path) as (sb, env_file, server_url):
        port = server_url.rsplit(":", 1)[1]
        env = {**os.environ, "FASTMCP_HOME": str(tmp_path / "fastmcp-home")}
        logs = {}
        for number, mode in enumerate(modes):
            log = logs[mode] = tmp_path / f"serve{number}.log"
            with log.open("w") as sink, serve_process(
                server_url, "--env-file", str(env_file), "--port", port, "--metrics-port",
                "off", "--storage-dir", str(tmp_path / "oauth"), *mode, stdout=sink,
                stderr=sink, env=env,
            ):
                if not number:
                    with httpx.Client(timeout=30) as http:
                        token = sign_in(http, server_url, server_url, "alice",
                                        password(sb, "alice")).access_token
                _one_session(server_url, token)
    audited, unaudited, every = (logs[m].read_text() for m in modes)
    call_line = (r"INFO oci_mcp\.server: tool call user=\S+ tool=whoami outcome=ok ms=\d+ "
                 r"client=127\.0\.0\.1:\d+$")
    assert len(re.findall(call_line, unaudited, re.M)) == 1, unaudited
    for text in (audited, every):
        assert not re.search(r"tool call user=", text), text
        events = [json.loads(line) for line in text.splitlines()
                  if line.startswith('{"event":"tool_call"')]
        assert [(e["tool"], e["outcome"]) for e in events] == [("whoami", "ok")], events
        assert re.fullmatch(r"127\.0\.0\.1:\d+", events[0]["client_address"]), events
    for text in (audited, unaudited, every):
        assert '"POST /mcp HTTP/1.1" 202' in text  # the notification
        assert '"POST /mcp HTTP/1.1" 401' in text
        assert '"GET /health HTTP/1.1" 200' in text
    # initialize, and — only with --access-log — the tool call
    assert audited.count('"POST /mcp HTTP/1.1" 200') == 1, audited
    assert unaudited.count('"POST /mcp HTTP/1.1" 200') == 1, unaudited
    assert every.count('"POST /mcp HTTP/1.1" 200') == 2, every
    access = r'INFO oci_mcp\.access: 127\.0\.0\.1:\d+ - "GET /health HTTP/1\.1" 200'
    assert re.search(access, audited)


def test_the_client_id_memo_answers_per_token() -> None:
    """``mcp_client_id`` remembers the client of each access token (a client sends the same one
    with every call): two clients' tokens keep their own ids, and a token without one is None."""
    import base64
    import json

    from oci_mcp_cli.server.logs import CLIENT_ID_MEMO_SIZE, _client_id_of

    def token(claims: dict[str, Any]) -> str:
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        return f"eyJhbGciOiJIUzI1NiJ9.{payload}.c2ln"

    first, second = token({"client_id": "client-1"}), token({"client_id": "client-2"})
    for _ in range(2):
        assert (_client_id_of(first), _client_id_of(second)) == ("client-1", "client-2")
    assert _client_id_of(token({"sub": "x"})) is None and _client_id_of("not-a-jwt") is None
    assert _client_id_of.cache_info().maxsize == CLIENT_ID_MEMO_SIZE  # bounded


def test_the_text_formatter_writes_what_loggings_own_writes() -> None:
    """``TextFormatter`` formats a second's date and time once; every line is still exactly what
    ``logging.Formatter(FORMAT)`` writes (across second boundaries, back and forth), and the
    per-request loggers' records carry no caller (nothing prints it)."""
    from oci_mcp_cli.server.logs import FORMAT, LOGGER, TextFormatter

    ours, theirs = TextFormatter(), logging.Formatter(FORMAT)
    for created in (1796600000.001, 1796600000.999, 1796600001.0, 1796600000.5, 1796603600.25):
        record = logging.LogRecord("oci_mcp.server", logging.INFO, __file__, 1, "x=%s", (1,), None)
        record.created, record.msecs = created, (created - int(created)) * 1000
        assert ours.format(record) == theirs.format(record)
    assert ours.formatTime(record, "%H") == theirs.formatTime(record, "%H")
    assert LOGGER.findCaller()[:2] == ("(unknown file)", 0)


def test_records_skip_the_thread_and_process_fields_no_format_of_ours_prints() -> None:
    """``configure_logging`` stops collecting a record's thread, process and process name (more
    than half of building a record); both formats still write every line (in a child: the
    switches are process-wide)."""
    script = (
        "import logging, sys\n"
        "from oci_mcp_cli.server.logs import configure_logging, LOGGER\n"
        "for fmt in ('text', 'json'):\n"
        "    configure_logging('INFO', log_format=fmt)\n"
        "    record = LOGGER.makeRecord('n', logging.INFO, 'f', 1, 'x=%s', (1,), None)\n"
        "    assert (record.thread, record.process, record.processName) == (None, None, None)\n"
        "    LOGGER.info('tool call user=%s tool=%s', 'alice', 'whoami')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 2 and all("tool call user=alice tool=whoami" in line for line in lines)
    assert lines[1].startswith("{") and '"level": "INFO"' in lines[1]
