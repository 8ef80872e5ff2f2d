"""core.urls: loopback-only http, domain URL forms, the IAM GUID."""

from __future__ import annotations

import pytest

from oci_mcp_cli.core.errors import UserError
from oci_mcp_cli.core.urls import (
    discovery_url,
    domain_guid,
    is_loopback_host,
    jwks_url,
    normalize_domain_url,
    normalize_server_url,
    require_secure_url,
)

GUID = "idcs-0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    "host", ["localhost", "127.0.0.1", "127.1.2.3", "::1", "[::1]", "LOCALHOST"]
)
def test_loopback_hosts(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize(
    "host", ["example.com", "10.0.0.1", "192.168.1.1", "", None, "localhost.evil"]
)
def test_non_loopback_hosts(host: str | None) -> None:
    assert not is_loopback_host(host)


@pytest.mark.parametrize(
    "value",
    [
        f"{GUID}.identity.oraclecloud.com",
        f"{GUID}.identity.oraclecloud.com:443",
        f"https://{GUID}.identity.oraclecloud.com:443/",
        f"https://{GUID}.identity.oraclecloud.com",
        f"  https://{GUID}.identity.oraclecloud.com/  ",
    ],
)
def test_domain_url_forms_normalize_to_one(value: str) -> None:
    assert normalize_domain_url(value) == f"https://{GUID}.identity.oraclecloud.com"


def test_sandbox_domain_url_keeps_port_and_path() -> None:
    url = f"http://127.0.0.1:8123/{GUID}/"
    assert normalize_domain_url(url) == f"http://127.0.0.1:8123/{GUID}"
    assert domain_guid(url) == GUID
    assert jwks_url(url) == f"http://127.0.0.1:8123/{GUID}/admin/v1/SigningCert/jwk"
    assert discovery_url(url) == f"http://127.0.0.1:8123/{GUID}/.well-known/openid-configuration"


def test_guid_from_cloud_url() -> None:
    assert domain_guid(f"https://{GUID}.identity.oraclecloud.com:443") == GUID


@pytest.mark.parametrize(
    "value,needle",
    [
        ("", "empty"),
        (f"http://{GUID}.identity.oraclecloud.com", "non-loopback"),
        ("ftp://example.com", "not a valid"),
    ],
)
def test_bad_domain_urls_are_user_errors(value: str, needle: str) -> None:
    with pytest.raises(UserError) as info:
        normalize_domain_url(value)
    assert needle in info.value.message
    assert info.value.exit_code == 2


def test_server_url_rules() -> None:
    assert normalize_server_url("http://localhost:8000/") == "http://localhost:8000"
    assert normalize_server_url("https://mcp.example.com") == "https://mcp.example.com"
    with pytest.raises(UserError) as info:
        normalize_server_url("http://mcp.example.com")
    assert "https" in (info.value.hint or "")
    with pytest.raises(UserError):
        normalize_server_url("mcp.example.com")


def test_require_secure_url_returns_input() -> None:
    assert require_secure_url("http://[::1]:9/x", what="x") == "http://[::1]:9/x"


@pytest.mark.parametrize(
    "url", ["http://localhost:99999", "http://127.0.0.1:0", "http://[::1]:70000", "http://localhost:x"]
)
def test_invalid_ports_are_user_errors_with_a_fix(url: str) -> None:
    for check in (normalize_server_url, normalize_domain_url):
        with pytest.raises(UserError, match="invalid port") as info:
            check(url)
        assert "1 and 65535" in (info.value.hint or "")
    with pytest.raises(UserError, match="--url .* invalid port"):
        require_secure_url(url, what="--url")


def test_valid_ports_pass() -> None:
    assert normalize_server_url("http://localhost:65535/") == "http://localhost:65535"
    assert normalize_server_url("http://[::1]:1") == "http://[::1]:1"
    assert normalize_server_url("https://mcp.example.com") == "https://mcp.example.com"
