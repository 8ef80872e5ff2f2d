"""Turn token-exchange and OCI SDK failures into ToolErrors an LLM (and a human) can act on.

Every message carries the cause (OCI code, message, opc-request-id) and never a token or secret.
"""

from __future__ import annotations

import re
from typing import Any

JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
TRUST_HINT = "no active identity propagation trust for this client — run `oci-mcp trust create`"


def redact(text: str) -> str:
    """Replace anything that looks like a JWT with ``[redacted-jwt]``."""
    return JWT_RE.sub("[redacted-jwt]", text)


def _oauth_error(response: Any) -> tuple[str, str]:
    try:
        body = response.json()
    except Exception:
        body = {}
    if not isinstance(body, dict):
        body = {}
    return str(body.get("error") or ""), str(
        body.get("error_description") or body.get("message") or ""
    )


def exchange_message(exc: Exception) -> str:
    """A clear sentence for a failed UPST token exchange."""
    response = getattr(exc, "response", None)
    if response is None:
        name = exc.__class__.__name__
        if "Connection" in name or "Timeout" in name:
            return (
                "token exchange failed: cannot reach the identity domain "
                f"({name}); check that it is up and reachable from the server"
            )
        return f"token exchange failed: {name}: {redact(str(exc))[:300]}"
    status = response.status_code
    error, description = _oauth_error(response)
    detail = (
        f"HTTP {status}"
        + (f" {error}" if error else "")
        + (f": {description}" if description else "")
    )
    text = f"token exchange failed ({redact(detail)})"
    lowered = f"{error} {description}".lower()
    if error == "invalid_client" or status == 401:
        return text + (
            " — the token-exchange client credentials were rejected; check "
            "IAM_TOKENEXCHANGE_CLIENT_ID / IAM_TOKENEXCHANGE_CLIENT_SECRET in .env "
            "(or re-run `oci-mcp init`)"
        )
    if "trust" in lowered:
        return text + " — " + TRUST_HINT
    if "jwk" in lowered or "signing" in lowered or "public key" in lowered:
        return text + (
            " — the domain's signing keys are not publicly readable; "
            "run `oci-mcp trust create` (it enables JWKS access)"
        )
    if status >= 500:
        return text + " — the identity domain had a server error; try again shortly"
    return text


def exchange_error(exc: Exception) -> Exception:
    """A ToolError for a failed exchange (ToolErrors pass through unchanged)."""
    from fastmcp.exceptions import ToolError

    if isinstance(exc, ToolError):
        return exc
    return ToolError(exchange_message(exc))


def oci_error(exc: Exception, operation: str) -> Exception:
    """A ToolError for a failed OCI SDK call: service code, message, opc-request-id."""
    import oci
    from fastmcp.exceptions import ToolError

    if isinstance(exc, ToolError):
        return exc
    if isinstance(exc, oci.exceptions.ServiceError):
        message = redact(str(getattr(exc, "message", "") or ""))
        text = f"OCI {operation} failed: HTTP {exc.status} {exc.code}: {message}"
        if exc.request_id:
            text += f" (opc-request-id: {exc.request_id})"
        if exc.status == 404:
            text += " — it does not exist or you are not authorized to see it"
        return ToolError(text)
    if isinstance(exc, oci.exceptions.RequestException | oci.exceptions.ConnectTimeout):
        return ToolError(
            f"OCI {operation} failed: cannot reach the service ({exc.__class__.__name__})"
        )
    return ToolError(f"OCI {operation} failed: {exc.__class__.__name__}: {redact(str(exc))[:300]}")
