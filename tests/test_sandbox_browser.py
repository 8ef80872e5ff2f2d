"""`oci-mcp sandbox browser`: a real headless Chromium loads a page on a real OCI hostname served
by the sandbox, through its CONNECT proxy, without a certificate error (issue 18, item 6).

Chromium runs as a subprocess with HOME pointed at an empty dir, so neither a developer's own
browser profile nor ~/.pki/nssdb is read or written.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import cli_process, run_cli
from conftest import need_tool

from oci_mcp_cli.sandbox import Sandbox

# Root in a container needs --no-sandbox; the rest keeps Chromium from calling home (which the
# sandbox proxy would refuse anyway) and from waiting on a GPU.
HEADLESS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)
CHROMIUM_WHY = "headless Chromium checks the browser trust setup; apt-get install chromium"
CERTUTIL_WHY = "adds the sandbox CA to a browser profile; apt-get install libnss3-tools"


@pytest.fixture(scope="module")
def bsb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(state_dir=tmp_path_factory.mktemp("browser")) as sb:
        yield sb


def discovery_url(sb: Sandbox) -> str:
    domain = next(d for d in sb.domains if d["type"] == "DEFAULT")
    return domain["https_url"] + "/.well-known/openid-configuration"


def page_json(dom: str) -> dict[str, object]:
    """The JSON document Chromium shows in its ``<pre>`` (``--dump-dom``)."""
    found = re.search(r"<pre[^>]*>(.*?)</pre>", dom, re.S)
    assert found, f"no JSON document in the page: {dom[:500]!r}"
    return json.loads(html.unescape(found.group(1)))


def test_chromium_loads_a_real_hostname_without_a_certificate_error(
    bsb: Sandbox, tmp_path: Path
) -> None:
    chromium = need_tool("chromium", CHROMIUM_WHY)
    need_tool("certutil", CERTUTIL_WHY)
    url = discovery_url(bsb)
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home)}

    # the problem: the proxy alone gets Chromium to the sandbox, which it does not trust
    plain = subprocess.run(
        [chromium, *HEADLESS, f"--user-data-dir={tmp_path / 'plain'}",
         f"--proxy-server={bsb.proxy_url}", "--dump-dom", url],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert "ERR_CERT_AUTHORITY_INVALID" in plain.stderr, plain.stderr[-2000:]
    assert "identity.oraclecloud.com" not in plain.stdout

    # the fix: the same browser on the profile `sandbox browser` prepares
    bsb.clear_requests()
    profile = tmp_path / "profile"
    result = cli_process(
        "sandbox", "browser", "--state-dir", str(bsb.state_dir), "--profile", str(profile),
        "--browser", chromium, "--", *HEADLESS, "--dump-dom", url,
        env={"HOME": str(home)}, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ERR_CERT" not in result.stderr
    document = page_json(result.stdout)
    assert document["issuer"] == "https://identity.oraclecloud.com/"
    assert str(document["authorization_endpoint"]).startswith(url.split("/.well-known")[0])
    served = [r for r in bsb.requests() if r["path"].endswith("/.well-known/openid-configuration")]
    assert served and all(r["scheme"] == "https" for r in served)
    # the trust lives in the profile only: the caller's HOME has no certificate database
    assert (profile / ".pki" / "nssdb" / "cert9.db").exists()
    assert not (home / ".pki").exists()


def test_print_prepares_the_profile_and_prints_the_command(bsb: Sandbox, tmp_path: Path) -> None:
    chromium = need_tool("chromium", CHROMIUM_WHY)
    certutil = need_tool("certutil", CERTUTIL_WHY)
    profile = tmp_path / "profile"
    for _ in range(2):  # a second run replaces the CA instead of failing on the nickname
        result = run_cli("sandbox", "browser", "--state-dir", str(bsb.state_dir),
                         "--profile", str(profile), "--browser", chromium, "--print")
        assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line.startswith(f"HOME={profile.resolve()} {chromium} ")
    assert f"--proxy-server={bsb.proxy_url}" in line
    assert f"--user-data-dir={profile.resolve() / 'chromium'}" in line
    listed = subprocess.run([certutil, "-L", "-d", f"sql:{profile / '.pki' / 'nssdb'}"],
                            capture_output=True, text=True, timeout=30, check=True).stdout
    (entry,) = [row for row in listed.splitlines() if row.startswith("oci-mcp sandbox CA")]
    assert entry.split()[-1] == "C,,"  # trusted to issue TLS server certificates


def test_missing_tools_and_sandbox_are_clear_errors(bsb: Sandbox, tmp_path: Path) -> None:
    chromium = need_tool("chromium", CHROMIUM_WHY)
    empty = tmp_path / "empty-path"
    empty.mkdir()
    state = ("--state-dir", str(bsb.state_dir), "--profile", str(tmp_path / "p"))

    no_browser = run_cli("sandbox", "browser", *state, env={"PATH": str(empty)})
    assert no_browser.returncode == 2
    assert "no Chromium or Chrome found on PATH" in no_browser.stderr
    assert "apt-get install chromium" in no_browser.stderr

    wrong = run_cli("sandbox", "browser", *state, "--browser", str(empty / "chrome"))
    assert wrong.returncode == 2 and "no such executable" in wrong.stderr

    no_certutil = run_cli("sandbox", "browser", *state, "--browser", chromium,
                          env={"PATH": str(empty)})
    assert no_certutil.returncode == 2
    assert "certutil (NSS tools) is not installed" in no_certutil.stderr
    assert "libnss3-tools" in no_certutil.stderr

    stopped = run_cli("sandbox", "browser", "--state-dir", str(tmp_path), "--browser", chromium)
    assert stopped.returncode == 2
    assert "no sandbox is running on the state dir" in stopped.stderr
    for result in (no_browser, wrong, no_certutil, stopped):
        assert "Traceback" not in result.stderr
