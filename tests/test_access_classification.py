"""Issue 20: the server recognises "the app's access control does not grant this user" by the
identity domain's error code *and* its exact description for it (the code alone, invalid_grant,
also means a missing trust or a refused user), through the objects the SDK raises: the signer's
``requests.HTTPError`` for an exchange, wrapped in ``SignerRefused`` for a revalidation."""

from __future__ import annotations

import json

import pytest

from oci_mcp_cli.server import errors
from oci_mcp_cli.server.signers import SignerRefused

DESCRIPTION = "User is not authorized to access the app."
NOT_GRANTED = {"error": "invalid_grant", "error_description": DESCRIPTION}
MESSAGE = "your account is not granted access to oci-mcp; ask an administrator to add you to group"


def _http_error(status: int, body: object) -> Exception:
    from oci._vendor import requests

    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    response.headers["Content-Type"] = "application/json"
    return requests.HTTPError(f"{status} Client Error", response=response)


@pytest.mark.parametrize("wrap", [lambda e: e, SignerRefused], ids=["exchange", "revalidation"])
def test_not_granted_is_the_refusal_message_with_its_audit_reason(wrap: object) -> None:
    asked: list[bool] = []
    error = errors.exchange_error(
        wrap(_http_error(400, NOT_GRANTED)),  # type: ignore[operator]
        lambda: asked.append(True) or False,
        not_granted=MESSAGE,
    )
    assert str(error).startswith(MESSAGE), str(error)
    assert "Sign in again" not in str(error) and "trust create" not in str(error)
    assert getattr(error, "oci_mcp_outcome", None) == "refused"
    assert getattr(error, "oci_mcp_reason", None) == "not_granted"
    assert asked == []  # no userinfo round trip: the domain already said why


@pytest.mark.parametrize("body", [
    {"error": "invalid_grant", "error_description": "User is not authorized"},
    {"error": "invalid_grant", "error_description": "The " + DESCRIPTION.lower()},
    {"error": "invalid_request", "error_description": DESCRIPTION},
])
def test_similar_words_or_another_code_are_not_taken_for_it(body: dict[str, str]) -> None:
    text = str(errors.exchange_error(_http_error(400, body), not_granted=MESSAGE))
    assert "not granted access" not in text, text
