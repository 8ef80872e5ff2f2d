"""Product error hints are chosen by HTTP status and error code, checked against golden error
bodies of identity domains and OCI (``tests/fixtures/idcs_errors``, sources in each file and its
README), through the same objects the SDK raises: ``requests.HTTPError`` for the token exchange,
``oci.exceptions.ServiceError`` for OCI calls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from oci_mcp_cli.server import errors

FIXTURES = Path(__file__).parent / "fixtures" / "idcs_errors"
CASES = sorted(FIXTURES.glob("*.json"))
HINTS = {name: getattr(errors, name) for name in dir(errors) if name.startswith("HINT_")}


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _http_error(status: int, body: object) -> Exception:
    """What the SDK's token-exchange signer raises: ``raise_for_status()`` on the response."""
    from oci._vendor import requests

    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    response.headers["Content-Type"] = "application/json"
    return requests.HTTPError(f"{status} Client Error", response=response)


def _service_error(status: int, body: object) -> Exception:
    """What the SDK raises for an error answer (``BaseClient.raise_service_error``): ``code`` and
    ``message`` read from the body, the rest left in the deserialized data."""
    import oci

    data = body if isinstance(body, dict) else {}
    return oci.exceptions.ServiceError(
        status,
        data.get("code"),
        {"opc-request-id": "ccb97da96a5c2f0b15fa1cfc255a7405/Mi9FV0Jr700000000"},
        data.get("message"),
    )


def _hints_in(text: str) -> list[str]:
    return [name for name, hint in HINTS.items() if hint in text]


def test_there_are_golden_fixtures_and_each_names_its_source() -> None:
    assert len(CASES) >= 10
    for path in CASES:
        case = _load(path)
        assert case["source"].strip(), f"{path.name}: no source"
        assert isinstance(case["status"], int) and isinstance(case["body"], dict), path.name
        for channel in ("exchange", "oci"):
            expected = case["hint"][channel]
            assert expected is None or expected in HINTS, f"{path.name}: unknown hint {expected}"


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_exchange_failure_gets_the_hint_of_its_status_and_code(path: Path) -> None:
    case = _load(path)
    message = errors.exchange_message(_http_error(case["status"], case["body"]))
    expected = case["hint"]["exchange"]
    assert _hints_in(message) == ([expected] if expected else []), message
    code, _ = errors.error_fields(case["body"])
    assert f"HTTP {case['status']}" in message and code in message


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_oci_call_failure_gets_the_hint_of_its_status_and_code(path: Path) -> None:
    case = _load(path)
    error = errors.oci_error(_service_error(case["status"], case["body"]), "list Buckets")
    expected = case["hint"]["oci"]
    assert _hints_in(str(error)) == ([expected] if expected else []), str(error)
    assert "opc-request-id: ccb97da96a5c2f0b15fa1cfc255a7405/Mi9FV0Jr700000000" in str(error)


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"error": "invalid_grant", "error_description": "x"}, ("invalid_grant", "x")),
        ({"code": "NotAuthenticated", "message": "y"}, ("NotAuthenticated", "y")),
        ({"scimType": "uniqueness", "detail": "z", "status": "409"}, ("uniqueness", "z")),
        (
            {
                "detail": "d",
                errors.IDCS_ERROR_EXTENSION: {"messageId": "error.common.validation.x"},
            },
            ("error.common.validation.x", "d"),
        ),
        (["not", "an", "object"], ("", "")),
        (None, ("", "")),
    ],
)
def test_error_fields_reads_every_shape(body: object, fields: tuple[str, str]) -> None:
    assert errors.error_fields(body) == fields


def test_words_of_a_description_never_choose_the_hint() -> None:
    """The old classifier matched "trust", "jwk", "signing", "public key" in the description."""
    for words in ("no trust", "JWKS not public", "signing key", "public key missing"):
        body = {"error": "invalid_request", "error_description": words}
        assert _hints_in(errors.exchange_message(_http_error(400, body))) == []
        body = {"error": "invalid_grant", "error_description": words}
        assert _hints_in(errors.exchange_message(_http_error(400, body))) == ["HINT_GRANT_REFUSED"]


def test_a_body_that_is_not_json_is_classified_by_status() -> None:
    from oci._vendor import requests

    response = requests.Response()
    response.status_code = 503
    response._content = b"<html>Service Unavailable</html>"
    message = errors.exchange_message(requests.HTTPError("503", response=response))
    assert message.startswith("token exchange failed (HTTP 503)")
    assert _hints_in(message) == ["HINT_SERVER_ERROR"]


def test_the_sandbox_answers_with_codes_the_classifier_knows() -> None:
    """The sandbox's exchange refusals are OAuth errors with a code: the hint follows the code,
    so the sandbox's own wording cannot make a test pass."""
    from oci_mcp_cli.sandbox.oauth.errors import invalid_client, invalid_grant, invalid_request

    for error, expected in (
        (invalid_client("bad secret"), ["HINT_CLIENT_REJECTED"]),
        (invalid_grant("anything at all"), ["HINT_GRANT_REFUSED"]),
        (invalid_request("subject_token is required"), []),
    ):
        body = json.loads(error.response().body)
        assert _hints_in(errors.exchange_message(_http_error(error.status, body))) == expected


def test_every_deadline_message_names_the_tool_timeout() -> None:
    """Whichever side of a call's deadline notices first — the SDK's read timeout (set to the
    deadline's remainder) or the call's own wait — the user reads the same cause, and the audit
    outcome is ``deadline`` (seen racing in CI: tests/test_audit.py::test_deadline_outcome)."""
    from oci_mcp_cli.core.ociconfig import DeadlineExceeded
    from oci_mcp_cli.server.clients import timeout_error

    for error in (errors.oci_error(DeadlineExceeded("late"), "ListCompartments"),
                  timeout_error("list_compartments", 4)):
        assert "tool timeout" in str(error), error
        assert error.oci_mcp_outcome == "deadline"  # type: ignore[attr-defined]
