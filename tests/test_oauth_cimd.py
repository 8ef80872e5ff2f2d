"""Sign-in with a Client ID Metadata Document (CIMD) client: the client_id is an https URL whose
JSON document names the client and its redirect URIs, instead of a DCR registration (issue 18,
item 6). Claude Code identifies itself this way; so can VS Code.

The document is served over https by a local server with a certificate from a test CA, for the
real hostname ``claude.ai``, reached through a CONNECT proxy that routes only that host to it:

- FastMCP fetches CIMD documents with SSRF protection. By default it resolves the host itself and
  refuses loopback and private addresses, so a document on this machine can never be fetched that
  way. Its documented alternative for servers behind an egress proxy is proxy mode
  (``FASTMCP_SSRF_TRUST_PROXY`` + ``HTTPS_PROXY``): the fetch goes through the proxy, which owns DNS
  and egress. The test runs the server in that mode, with the sandbox's own ``ConnectProxy``
  (a loopback CONNECT proxy that reaches only the hosts it is told to) as the egress proxy.
- The one substitution is the trust store: in proxy mode FastMCP verifies the document host's
  certificate against the OS store only (httpx2 with ``trust_env=False`` ignores
  ``SSL_CERT_FILE``), and a test must not add a CA to the machine's store. So, for this process,
  httpcore2's default TLS context trusts only the test CA. TLS, hostname checks, document
  validation, the redirect policy, the sign-in, the token exchange and the tool call are all real.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from guard_support import pkce
from oauth_flow import password
from serve_support import ServerStack, server_stack

from oci_mcp_cli.sandbox.proxy import ConnectProxy
from oci_mcp_cli.sandbox.tls import LocalCA

HOST = "claude.ai"
UNTRUSTED_HOST = "untrusted.example"  # served with a certificate from a CA nobody trusts
CLAUDE_CODE = f"https://{HOST}/oauth/claude-code-client-metadata"  # Claude Code's client_id
# Shaped like Claude Code's published document (loopback callbacks without a port: any port).
DOCUMENTS: dict[str, dict[str, Any]] = {
    "/oauth/claude-code-client-metadata": {
        "client_name": "Claude Code",
        "redirect_uris": ["http://localhost/callback", "http://127.0.0.1/callback"],
    },
    "/evil-client": {"client_name": "Evil", "redirect_uris": ["https://evil.example/callback"]},
    "/mismatch": {"client_name": "Mismatch", "redirect_uris": ["http://127.0.0.1/callback"],
                  "client_id": f"https://{HOST}/someone-else"},
    "/client": {"client_name": "Untrusted", "redirect_uris": ["http://127.0.0.1/callback"]},
}


def document(host: str, path: str) -> dict[str, Any]:
    return {
        "client_id": f"https://{host}{path}",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        **DOCUMENTS[path],
    }


class DocumentServer:
    """An https server for the documents above; each host in ``certs`` presents its own
    certificate (picked by SNI), the documents are built for the ``Host`` asked for."""

    def __init__(self, certs: dict[str, tuple[bytes, bytes]]) -> None:
        self.fetched: list[str] = []
        fetched = self.fetched

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                fetched.append(self.path)
                if self.path not in DOCUMENTS:
                    self.send_error(404)
                    return
                host = (self.headers.get("Host") or "").rpartition(":")[0] or self.headers["Host"]
                body = json.dumps(document(host, self.path)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        contexts = {host: _server_context(*pem) for host, pem in certs.items()}

        def pick(sock: Any, name: str | None, _: ssl.SSLContext) -> Any:
            if name not in contexts:
                return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
            sock.context = contexts[name]
            return None

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.sni_callback = pick
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


def _server_context(cert: bytes, key: bytes) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.NamedTemporaryFile("wb", suffix=".pem") as handle:
        handle.write(cert + key)
        handle.flush()
        context.load_cert_chain(handle.name)
    return context


class EgressProxy:
    """The sandbox's ConnectProxy on its own event loop: ``CONNECT <host>:443`` for the document
    hosts goes to the document server, any other target is refused (403)."""

    def __init__(self, hosts: set[str], port: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.proxy = ConnectProxy(hosts.__contains__, ("127.0.0.1", port))
        asyncio.run_coroutine_threadsafe(self.proxy.start(sock), self.loop).result(10)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.proxy.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def cimd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerStack, DocumentServer]]:
    import fastmcp
    import httpcore2

    tmp = tmp_path_factory.mktemp("cimd")
    test_ca = LocalCA(tmp / "test-ca").load_or_create()
    other_ca = LocalCA(tmp / "other-ca").load_or_create()
    docs = DocumentServer(
        {HOST: test_ca.issue(HOST), UNTRUSTED_HOST: other_ca.issue(UNTRUSTED_HOST)}
    )
    egress = EgressProxy({HOST, UNTRUSTED_HOST}, docs.port)

    def trust_test_ca(*, _trust_env: bool = True) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(test_ca.cert_file))

    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(fastmcp.settings, "ssrf_trust_proxy", True)  # FASTMCP_SSRF_TRUST_PROXY=1
            mp.setenv("HTTPS_PROXY", egress.url)
            mp.setenv("NO_PROXY", "127.0.0.1,localhost,::1")  # the sandbox, the server: direct
            mp.setattr(httpcore2, "default_ssl_context", trust_test_ca)  # see the module doc
            with server_stack(tmp) as st:
                yield st, docs
    finally:
        egress.close()
        docs.close()


def test_a_cimd_client_signs_in_and_calls_a_tool(cimd: tuple[ServerStack, DocumentServer]) -> None:
    """The whole flow as a CIMD client does it: FastMCP's client (the MCP SDK's CIMD support)
    sees ``client_id_metadata_document_supported``, skips /register, and uses the URL as its
    client_id; the server fetches the document through its egress proxy, checks the redirect URI
    against it and the policy, and alice signs in and calls a tool."""
    from fastmcp import Client

    from oci_mcp_cli.client.headless import headless_oauth
    from oci_mcp_cli.client.session import result_value

    st, docs = cimd
    docs.fetched.clear()
    oauth = headless_oauth("alice", password(st.sb, "alice"), client_metadata_url=CLAUDE_CODE,
                           client_name="Claude Code", callback_host="127.0.0.1")

    async def run() -> Any:
        async with Client(st.url, auth=oauth, timeout=120) as client:
            return result_value(await client.call_tool("whoami", {}))

    me = asyncio.run(run())
    assert me["user_name"] == "alice"
    assert oauth.context.client_info.client_id == CLAUDE_CODE
    assert "/oauth/claude-code-client-metadata" in docs.fetched


def _authorize(st: ServerStack, client_id: str, redirect_uri: str) -> httpx.Response:
    _, challenge = pkce()
    query = {"client_id": client_id, "response_type": "code", "redirect_uri": redirect_uri,
             "code_challenge": challenge, "code_challenge_method": "S256", "state": "s",
             "scope": "openid"}
    return httpx.get(f"{st.settings.server_url}/authorize?{urlencode(query)}", timeout=60,
                     trust_env=False)


@pytest.mark.parametrize(
    ("client_id", "redirect_uri", "error", "fetched"),
    [
        # the document allows it, the server's redirect policy (--allowed-redirect) does not
        (f"https://{HOST}/evil-client", "https://evil.example/callback",
         "does not match allowed patterns", True),
        # the policy allows it (loopback), the document does not
        (CLAUDE_CODE, "http://127.0.0.1:5555/elsewhere", "does not match CIMD redirect_uris", True),
        # the document names another client_id
        (f"https://{HOST}/mismatch", "http://127.0.0.1:5555/callback", "is not registered", True),
        # the document's certificate is from a CA the server does not trust: no request is sent
        (f"https://{UNTRUSTED_HOST}/client", "http://127.0.0.1:5555/callback",
         "is not registered", False),
        # no document there (404)
        (f"https://{HOST}/missing", "http://127.0.0.1:5555/callback", "is not registered", True),
        # a host the egress proxy does not route (403 from the proxy): never fetched directly
        ("https://elsewhere.example/client", "http://127.0.0.1:5555/callback",
         "is not registered", False),
    ],
    ids=["policy", "document", "mismatch", "untrusted-ca", "missing", "unrouted"],
)
def test_a_cimd_client_never_gets_a_redirect_it_should_not(
    cimd: tuple[ServerStack, DocumentServer], client_id: str, redirect_uri: str, error: str,
    fetched: bool,
) -> None:
    """An /authorize the server must refuse is answered 400 with the reason, never redirected."""
    st, docs = cimd
    docs.fetched.clear()
    response = _authorize(st, client_id, redirect_uri)
    assert response.status_code == 400, response.text[:300]
    assert "location" not in response.headers
    assert error in response.json()["error_description"]
    assert bool(docs.fetched) is fetched, docs.fetched
