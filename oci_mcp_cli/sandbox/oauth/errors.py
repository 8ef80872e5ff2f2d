"""OAuth (RFC 6749 §5.2) and SCIM-style error responses of the identity-domain endpoints."""

from __future__ import annotations

from starlette.responses import JSONResponse

from oci_mcp_cli.sandbox.wire import scim_error_body

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 §5.1


class OAuthError(Exception):
    """An OAuth error: ``error`` code, a description naming the failed rule, and the HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def response(self, *, basic_challenge: bool = False) -> JSONResponse:
        headers = dict(NO_STORE)
        if self.status == 401 and basic_challenge:
            headers["WWW-Authenticate"] = 'Basic realm="oauth2"'
        return JSONResponse(
            {"error": self.error, "error_description": self.description},
            status_code=self.status,
            headers=headers,
        )


def invalid_client(description: str) -> OAuthError:
    return OAuthError("invalid_client", description, 401)


def invalid_request(description: str) -> OAuthError:
    return OAuthError("invalid_request", description)


def invalid_grant(description: str) -> OAuthError:
    return OAuthError("invalid_grant", description)


NOT_GRANTED = "User is not authorized to access the app."  # the server recognises this text


def not_granted() -> OAuthError:
    """A refresh or UPST exchange for a user who is not granted the app (``allowAccessControl``)."""
    return invalid_grant(NOT_GRANTED)


def unauthorized_client(description: str) -> OAuthError:
    return OAuthError("unauthorized_client", description)


def invalid_scope(description: str) -> OAuthError:
    return OAuthError("invalid_scope", description)


def bearer_error(error: str, description: str, status: int = 401) -> JSONResponse:
    """RFC 6750 error for a protected resource (userinfo)."""
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"WWW-Authenticate": f'Bearer error="{error}", error_description="{description}"'},
    )


def scim_error(status: int, detail: str, message_id: str) -> JSONResponse:
    """SCIM error JSON (string ``status``) with the IDCS ``messageId`` extension."""
    return JSONResponse(scim_error_body(status, detail, message_id), status_code=status)


def unknown_domain(guid: str) -> JSONResponse:
    return scim_error(404, f"Identity domain {guid} not found.", "error.common.domain.notFound")
