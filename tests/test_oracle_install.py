"""`serve --oracle` under `sandbox exec` installs the server package straight from the package
index, not through the sandbox's proxy (issue 18 item 6): the proxy reaches only OCI's hostnames
and the sandbox CA bundle trusts only the sandbox, so pip must get neither — while the server it
then starts still gets both (its OCI traffic goes to the sandbox).

No real PyPI: a local https index (on 127.0.0.2, a loopback address the sandbox's ``NO_PROXY``
does not list, so a proxied pip would send it a CONNECT) serves one tiny wheel built here, a
stand-in for ``oracle.oci-<service>-mcp-server`` under a service name Oracle does not publish
(``gapsfake``). Its ``main()`` records the environment it was started with. Needs a Python ≥ 3.13
for the venv (skips without one, fails under CI=true).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http.server
import ipaddress
import json
import os
import ssl
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import missing

from oci_mcp_cli.core.errors import UserError
from oci_mcp_cli.oracle.services import OracleService
from oci_mcp_cli.sandbox import Sandbox

CLI = [sys.executable, "-m", "oci_mcp_cli"]
SERVICE = OracleService("gapsfake")
INDEX_HOST = "127.0.0.2"
SECRET = "s3cr${HOME}t$X"  # also: the launcher hands the value over as written
SERVER_PY = """
import json, os


def main():
    keys = ("IDCS_CLIENT_SECRET", "HTTPS_PROXY", "REQUESTS_CA_BUNDLE")
    with open(os.environ["GAPSFAKE_DUMP"], "w") as fh:
        json.dump({k: os.environ.get(k) for k in keys}, fh)
"""


def _wheel(folder: Path) -> Path:
    """A minimal py3-none-any wheel of the stand-in package (namespace ``oracle``)."""
    dist = SERVICE.package.replace("-", "_").replace(".", "_")
    module_dir = SERVICE.module.rsplit(".", 1)[0].replace(".", "/")
    files = {
        f"{module_dir}/__init__.py": "",
        f"{module_dir}/server.py": SERVER_PY,
        f"{dist}-1.0.0.dist-info/METADATA":
            f"Metadata-Version: 2.1\nName: {SERVICE.package}\nVersion: 1.0.0\n",
        f"{dist}-1.0.0.dist-info/WHEEL":
            "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = f"{dist}-1.0.0.dist-info/RECORD"
    lines = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        lines.append(f"{name},sha256={digest.decode()},{len(text.encode())}")
    files[record] = "\n".join([*lines, f"{record},,"]) + "\n"
    path = folder / f"{dist}-1.0.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as whl:
        for name, text in files.items():
            whl.writestr(name, text)
    return path


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for the index's address (given to pip as its CA, PIP_CERT)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, INDEX_HOST)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(
            INDEX_HOST))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "index.pem", folder / "index.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A PEP 503 simple index over https on 127.0.0.2; ``requests`` lists the paths it served."""
    root = tmp_path_factory.mktemp("index")
    wheel = _wheel(root)
    project = root / "simple" / SERVICE.package.replace(".", "-")
    project.mkdir(parents=True)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    (project / "index.html").write_text(
        f'<html><body><a href="../../{wheel.name}#sha256={digest}">{wheel.name}</a></body></html>')
    cert_file, key_file = _certificate(root)
    served: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self) -> None:  # noqa: N802
            served.append(self.path)
            super().do_GET()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer((INDEX_HOST, 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"url": f"https://{INDEX_HOST}:{server.server_address[1]}/simple",
               "cert": cert_file, "served": served}
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    """A fresh Python ≥ 3.13 venv without the package (what `serve --oracle` creates first)."""
    from oci_mcp_cli.oracle.python import find_interpreter

    try:
        base = find_interpreter()
    except UserError as exc:
        missing(exc.message)
    folder = tmp_path / "venv"
    subprocess.run([base, "-m", "venv", str(folder)], check=True, timeout=300)
    return folder


def _env_files(tmp_path: Path) -> Path:
    env_file = tmp_path / ".env"
    env_file.write_text("")
    service_file = tmp_path / SERVICE.env_file_name(".env")
    service_file.write_text(
        "ORACLE_MCP_HOST=127.0.0.1\nORACLE_MCP_PORT=9\nORACLE_MCP_BASE_URL=http://127.0.0.1:9\n"
        "IDCS_DOMAIN=127.0.0.1:9\nIDCS_CLIENT_ID=client-1\n"
        f"IDCS_CLIENT_SECRET={SECRET}\nIDCS_AUDIENCE=urn:aud\nOCI_REGION=us-ashburn-1\n"
    )
    for path in (env_file, service_file):
        path.chmod(0o600)
    return env_file


def test_install_goes_to_the_index_directly_under_sandbox_exec(
    tmp_path: Path, index: dict[str, Any], venv: Path
) -> None:
    env_file = _env_files(tmp_path)
    dump = tmp_path / "server-env.json"
    environ = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    environ.update({
        "OCI_MCP_ORACLE_VENV": str(venv), "GAPSFAKE_DUMP": str(dump), "X": "expanded",
        "PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": index["url"],
        "PIP_CERT": str(index["cert"]),  # the index's own trust, as pip trusts PyPI's
        "PIP_NO_CACHE_DIR": "1", "PIP_RETRIES": "0", "PIP_TIMEOUT": "30",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        # pip's truststore path cannot verify an IP-address host ("check_hostname requires
        # server_hostname"); its certifi path (with PIP_CERT) can
        "PIP_USE_DEPRECATED": "legacy-certs",
    })
    with Sandbox(state_dir=tmp_path / "sb") as sb:
        done = subprocess.run(
            [*CLI, "sandbox", "exec", "--state-dir", str(sb.state_dir), "--", *CLI, "serve",
             "--oracle", SERVICE.name, "--env-file", str(env_file), "--as-published"],
            env=environ, capture_output=True, text=True, timeout=300,
        )
        proxy, ca_file = sb.info()["proxy_url"], sb.info()["ca_file"]
    failures = []
    if done.returncode != 0:
        failures.append(f"serve --oracle exited {done.returncode}: {done.stderr[-2000:]}")
    if not any(path.endswith(".whl") for path in index["served"]):
        failures.append(f"pip never fetched the wheel from the index directly: {index['served']}")
    assert not failures, "GUARANTEE installs-bypass-the-sandbox-proxy: " + "; ".join(failures)
    server_env = json.loads(dump.read_text())
    # ... while the server itself still runs under the sandbox, with the value as written
    assert server_env == {"IDCS_CLIENT_SECRET": SECRET, "HTTPS_PROXY": proxy,
                          "REQUESTS_CA_BUNDLE": ca_file}


def test_only_the_sandbox_s_proxy_and_ca_are_left_out() -> None:
    """A proxy or CA bundle someone else set (a corporate proxy) still applies to installs."""
    from oci_mcp_cli.core.proxyenv import direct_environment

    sandbox = {"HTTPS_PROXY": "http://127.0.0.1:1", "https_proxy": "http://127.0.0.1:1",
               "REQUESTS_CA_BUNDLE": "/sb/ca.pem", "SSL_CERT_FILE": "/sb/ca.pem",
               "CURL_CA_BUNDLE": "/sb/ca.pem", "NO_PROXY": "127.0.0.1",
               "OCI_MCP_SANDBOX_PROXY": "http://127.0.0.1:1", "OCI_MCP_SANDBOX_CA": "/sb/ca.pem"}
    assert direct_environment({**sandbox, "PATH": "/bin"}) == {"NO_PROXY": "127.0.0.1",
                                                               "PATH": "/bin"}
    corporate = {"HTTPS_PROXY": "http://proxy.corp:3128", "REQUESTS_CA_BUNDLE": "/corp/ca.pem"}
    assert direct_environment(corporate) == corporate
    # overridden after `sandbox env`: the user's values stay, the sandbox's others go
    assert direct_environment({**sandbox, **corporate}) == {**corporate, "NO_PROXY": "127.0.0.1"}
