"""core.ociconfig: profiles (API key, session token), env vars, the endpoint key, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from oci_mcp_cli.core.errors import RemoteError, UserError
from oci_mcp_cli.core.ociconfig import (
    load_oci_auth,
    oci_client,
    resolve_config_location,
    to_remote_error,
)

TENANCY = "ocid1.tenancy.oc1..aaaatest"
USER = "ocid1.user.oc1..aaaatest"


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path_factory.mktemp("keys") / "key.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return path


def write_config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "config"
    path.write_text(body)
    return path


def api_key_profile(name: str, key: Path, extra: str = "") -> str:
    return (
        f"[{name}]\nuser={USER}\nfingerprint=20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34\n"
        f"tenancy={TENANCY}\nregion=us-ashburn-1\nkey_file={key}\n{extra}"
    )


def test_api_key_profile_with_endpoint(tmp_path: Path, key_file: Path) -> None:
    config = write_config(
        tmp_path, api_key_profile("SANDBOX", key_file, "oci_mcp_endpoint=http://127.0.0.1:9999/\n")
    )
    auth = load_oci_auth(str(config), "SANDBOX")
    assert auth.mode == "api_key"
    assert auth.service_endpoint == "http://127.0.0.1:9999"
    assert auth.tenancy_id == TENANCY and auth.region == "us-ashburn-1"
    assert (auth.config_file, auth.profile) == (str(config), "SANDBOX")


def test_regional_client_uses_the_endpoint(tmp_path: Path, key_file: Path) -> None:
    import oci

    config = write_config(
        tmp_path, api_key_profile("S", key_file, "oci_mcp_endpoint=http://127.0.0.1:9999\n")
    )
    client = oci_client(oci.identity.IdentityClient, load_oci_auth(str(config), "S"))
    assert client.base_client.endpoint.startswith("http://127.0.0.1:9999")


def test_env_vars_select_file_and_profile(
    tmp_path: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path, api_key_profile("ENVPROF", key_file))
    monkeypatch.setenv("OCI_CLI_CONFIG_FILE", str(config))
    monkeypatch.setenv("OCI_CLI_PROFILE", "ENVPROF")
    assert resolve_config_location(None, None) == (str(config), "ENVPROF")
    assert resolve_config_location("/x", "P") == ("/x", "P")  # flags win
    assert load_oci_auth().profile == "ENVPROF"


def test_session_token_profile(tmp_path: Path, key_file: Path) -> None:
    token = tmp_path / "token"
    token.write_text("eyJhbGciOiJSUzI1NiJ9.e30.sig\n")
    config = write_config(
        tmp_path,
        f"[SESSION]\ntenancy={TENANCY}\nregion=us-phoenix-1\n"
        f"key_file={key_file}\nsecurity_token_file={token}\n",
    )
    auth = load_oci_auth(str(config), "SESSION")
    assert auth.mode == "security_token"
    assert auth.signer is not None


def test_session_token_profile_with_missing_token(tmp_path: Path, key_file: Path) -> None:
    config = write_config(
        tmp_path,
        f"[SESSION]\ntenancy={TENANCY}\nregion=us-phoenix-1\n"
        f"key_file={key_file}\nsecurity_token_file={tmp_path}/nope\n",
    )
    with pytest.raises(UserError) as info:
        load_oci_auth(str(config), "SESSION")
    assert "oci session authenticate" in (info.value.hint or "")


def test_missing_file_unknown_profile_bad_key(tmp_path: Path, key_file: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        load_oci_auth(str(tmp_path / "absent"), "DEFAULT")
    config = write_config(tmp_path, api_key_profile("A", key_file))
    with pytest.raises(UserError, match="profile 'B' not found"):
        load_oci_auth(str(config), "B")
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    config = write_config(tmp_path, api_key_profile("A", bad))
    with pytest.raises(UserError, match="not a usable private key"):
        load_oci_auth(str(config), "A")
    config = write_config(tmp_path, api_key_profile("A", tmp_path / "missing.pem"))
    with pytest.raises(UserError, match="key_file"):
        load_oci_auth(str(config), "A")


def test_non_loopback_http_endpoint_is_refused(tmp_path: Path, key_file: Path) -> None:
    config = write_config(
        tmp_path, api_key_profile("A", key_file, "oci_mcp_endpoint=http://example.com\n")
    )
    with pytest.raises(UserError, match="non-loopback"):
        load_oci_auth(str(config), "A")


def test_unknown_auth_mode() -> None:
    with pytest.raises(UserError, match="unknown --auth"):
        load_oci_auth(auth="magic")


def test_instance_principal_outside_oci_is_a_user_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import oci

    def refuse(*args: object, **kwargs: object) -> None:
        # The metadata service (169.254.169.254) must not be contacted from tests.
        raise RuntimeError("metadata service unreachable")

    monkeypatch.setattr(oci.auth.signers, "InstancePrincipalsSecurityTokenSigner", refuse)
    with pytest.raises(UserError, match="instance principal"):
        load_oci_auth(auth="instance_principal")


def test_to_remote_error_names_call_role_and_request_id() -> None:
    import oci

    # A ServiceError as the SDK builds it from a SCIM 403 body (constructed directly: the sandbox
    # suite covers the real wire path).
    exc = oci.exceptions.ServiceError(
        403,
        None,
        {"opc-request-id": "REQ123"},
        None,
        deserialized_data={"detail": "Not authorized", "status": "403"},
    )
    error = to_remote_error(exc, "create App")
    assert isinstance(error, RemoteError)
    assert error.message == "create App failed: HTTP 403: Not authorized"
    assert error.request_id == "REQ123"
    assert "Identity Domain Administrator" in (error.hint or "")
    unreachable = to_remote_error(oci.exceptions.RequestException("boom"), "list Apps")
    assert isinstance(unreachable, UserError) and "cannot reach" in unreachable.message
