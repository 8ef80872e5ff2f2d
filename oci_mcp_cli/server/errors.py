"""Turn token-exchange and OCI SDK failures into ToolErrors an LLM (and a human) can act on.

Every message carries the cause (OCI code, message, opc-request-id) and never a token or secret.
These are *expected* outcomes: FastMCP logs them at DEBUG only, and the server's one line per
call (``server/logs.py``) records them — at INFO, or WARNING for timeouts and open circuits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from oci_mcp_cli.core.redact import redact

IDCS_ERROR_EXTENSION = "urn:ietf:params:scim:api:oracle:idcs:extension:messages:Error"

# The hints of a failed token exchange, chosen by HTTP status and error code (classify_exchange),
# never by the words of a description: those are the domain's to change (and the sandbox's own).
HINT_CLIENT_REJECTED = (
    "the token-exchange client credentials were rejected; check "
    "IAM_TOKENEXCHANGE_CLIENT_ID / IAM_TOKENEXCHANGE_CLIENT_SECRET in .env "
    "(or re-run `oci-mcp init`)"
)
HINT_GRANT_REFUSED = (
    "the identity domain refused to exchange the user's token: most often no active identity "
    "propagation trust lists this client, or the domain's signing keys are not publicly "
    "readable — run `oci-mcp trust create` (it creates or repairs the trust and enables JWKS "
    "access)"
)
HINT_CLIENT_NOT_ALLOWED = (
    "the token-exchange client is not allowed this grant; "
    "`oci-mcp doctor` checks its app (re-run `oci-mcp init` to repair it)"
)
HINT_USER_REFUSED = (
    "the identity domain no longer accepts this user's own sign-in (its userinfo endpoint "
    "answers 401 invalid_token): the user is inactive or was deleted, or the sign-in was "
    "revoked — an administrator can activate the user in the identity domain; then sign in again"
)
HINT_THROTTLED = "the identity domain is throttling requests; try again shortly"
HINT_SERVER_ERROR = "the identity domain had a server error; try again shortly"
HINT_OCI_NOT_FOUND = "it does not exist or you are not authorized to see it"


def tool_error(
    message: str, *, warning: bool = False, outcome: str = "tool_error", reason: str | None = None
) -> Exception:
    """A ToolError for an expected failure: FastMCP logs it at DEBUG (no duplicate ERROR
    line); ``warning`` marks operational trouble (timeout, outage) for the call log line;
    ``outcome`` is the call's audit outcome (``server/telemetry.py`` ``OUTCOMES``), ``reason``
    the audit event's finer cause (``server/telemetry.py`` ``REASONS``; never a metric
    label)."""
    from fastmcp.exceptions import ToolError

    error = ToolError(message, log_level=logging.DEBUG)
    error.oci_mcp_warning = warning  # type: ignore[attr-defined]
    error.oci_mcp_outcome = outcome  # type: ignore[attr-defined]
    error.oci_mcp_reason = reason  # type: ignore[attr-defined]
    return error


def _timeout_text(what: str) -> str:
    return (
        f"{what} timed out: the service is slow or not answering right now; try again later "
        "(every tool call is bounded by the tool timeout: serve --tool-timeout)"
    )


def error_fields(body: object) -> tuple[str, str]:
    """``(code, description)`` of an error body in any of the three shapes an identity domain or
    OCI answers with (reference §6, §8.3, §12): OAuth (RFC 6749 §5.2) ``error`` and
    ``error_description``; OCI ``code`` and ``message``; SCIM (RFC 7644 §3.12) ``scimType``, else
    the IDCS extension's ``messageId``, and ``detail``. Empty strings when absent."""
    if not isinstance(body, dict):
        return "", ""
    extension = body.get(IDCS_ERROR_EXTENSION)
    message_id = extension.get("messageId") if isinstance(extension, dict) else None
    code = body.get("error") or body.get("code") or body.get("scimType") or message_id
    description = body.get("error_description") or body.get("message") or body.get("detail")
    return str(code or ""), str(description or "")


def response_status(response: Any, body: object) -> int:
    """The HTTP status; a SCIM body's own (string) ``status`` when the response has none."""
    status = getattr(response, "status_code", None)
    if isinstance(status, int):
        return status
    scim_status = str(body.get("status") or "") if isinstance(body, dict) else ""
    return int(scim_status) if scim_status.isdigit() else 0


def classify_exchange(status: int, code: str, *, user_refused: bool = False) -> str | None:
    """The hint for a token-exchange failure, from its HTTP status and error code alone;
    ``user_refused``: the domain also refuses the user's own token (:func:`user_token_refused`),
    so an ``invalid_grant`` is about the user (inactive, deleted, revoked), not the trust."""
    if code == "invalid_client" or code == "NotAuthenticated" or status == 401:
        return HINT_CLIENT_REJECTED
    if code == "invalid_grant":
        return HINT_USER_REFUSED if user_refused else HINT_GRANT_REFUSED
    if code == "unauthorized_client":
        return HINT_CLIENT_NOT_ALLOWED
    if status == 429:
        return HINT_THROTTLED
    if status >= 500:
        return HINT_SERVER_ERROR
    return None


def _json_body(response: Any) -> object:
    try:
        return response.json()
    except Exception:  # not JSON (an HTML error page, an empty body): no code to classify by
        return None


def is_not_granted(exc: BaseException) -> bool:
    """The exchange (or the revalidation, ``exc.cause``) was refused because the app requires a
    grant the user lacks (issue 20): ``invalid_grant`` with the domain's exact description for
    it. The one description we match: the code alone (``invalid_grant``) also means a missing
    trust or a refused user, and the domain gives this refusal no code of its own. Exact
    equality, never a search for words (core/access.py ``NOT_GRANTED_DESCRIPTION``)."""
    from oci_mcp_cli.core.access import NOT_GRANTED_DESCRIPTION

    response = getattr(getattr(exc, "cause", exc), "response", None)
    if response is None:
        return False
    code, description = error_fields(_json_body(response))
    return code == "invalid_grant" and description.strip() == NOT_GRANTED_DESCRIPTION


def not_granted_error(refusal: str | None) -> Exception:
    """The ToolError of a call refused by the app's access control: ``refusal`` (the sentence
    of core/access.py), outcome ``refused``, audit reason ``not_granted``."""
    from oci_mcp_cli.core.access import (
        NOT_GRANTED_DESCRIPTION,
        NOT_GRANTED_REASON,
        refusal_message,
    )

    return tool_error(
        f"{refusal or refusal_message(None)} (the identity domain refused your calls: "
        f"invalid_grant: {NOT_GRANTED_DESCRIPTION})",
        outcome="refused",
        reason=NOT_GRANTED_REASON,
    )


def is_grant_refusal(exc: BaseException) -> bool:
    """The exchange (or the revalidation, ``exc.cause``) was answered ``invalid_grant``."""
    response = getattr(getattr(exc, "cause", exc), "response", None)
    return response is not None and error_fields(_json_body(response))[0] == "invalid_grant"


def user_token_refused(domain_url: str, token: str, timeout: float = 5.0) -> bool:
    """Whether the identity domain refuses the user's own access token at its userinfo endpoint
    (RFC 6750: ``401`` with ``invalid_token``). Asked only after an ``invalid_grant`` exchange,
    to tell a refused *user* from a trust or JWKS problem (where userinfo still answers 200).
    Any other answer (200, 403 insufficient_scope, an outage) is False: not known to be the
    user. The token goes only to the domain that issued it, in the Authorization header."""
    import httpx2

    from oci_mcp_cli.core.tlscontext import httpx2_verify

    url = domain_url.rstrip("/") + "/oauth2/v1/userinfo"
    try:
        response = httpx2.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout,
                              verify=httpx2_verify())
    except httpx2.HTTPError:
        return False
    challenge = response.headers.get("www-authenticate", "")
    code, _ = error_fields(_json_body(response))
    return response.status_code == 401 and (
        code == "invalid_token" or 'error="invalid_token"' in challenge
    )


def exchange_message(exc: BaseException, *, user_refused: bool = False) -> str:
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
    body = _json_body(response)
    status = response_status(response, body)
    error, description = error_fields(body)
    detail = (
        f"HTTP {status}"
        + (f" {error}" if error else "")
        + (f": {description}" if description else "")
    )
    text = f"token exchange failed ({redact(detail)})"
    hint = classify_exchange(status, error, user_refused=user_refused)
    return f"{text} — {hint}" if hint else text


def classify_oci(status: int, code: str | None) -> str | None:
    """The hint for a failed OCI call (OCI error ``code``, e.g. NotAuthorizedOrNotFound)."""
    if status == 404 or code == "NotAuthorizedOrNotFound":
        return HINT_OCI_NOT_FOUND
    return None


def exchange_error(
    exc: Exception,
    user_check: Callable[[], bool] | None = None,
    *,
    not_granted: str | None = None,
) -> Exception:
    """A ToolError for a failed exchange or revalidation (ToolErrors pass through unchanged).

    ``user_check`` (e.g. :func:`user_token_refused` for the caller's token) is asked only when the
    domain answered ``invalid_grant``: True names the user as the cause instead of the trust.
    ``not_granted``: the sentence for a user the app's access control refuses
    (:func:`is_not_granted`)."""
    from fastmcp.exceptions import ToolError

    from oci_mcp_cli.core.ociconfig import DeadlineExceeded
    from oci_mcp_cli.server.imports import import_failure, import_fault_error
    from oci_mcp_cli.server.signers import RevalidationUnavailable, SignerRefused

    if isinstance(exc, ToolError):
        return exc
    failure = import_failure(exc)
    if failure is not None:  # our process failed, not the identity domain
        return import_fault_error(failure)
    if isinstance(exc, DeadlineExceeded) or _is_timeout(exc):
        text = _timeout_text("the token exchange with the identity domain")
        return tool_error(text, warning=True, outcome="deadline")
    if is_not_granted(exc):  # the exchange or the revalidation: the user lacks a grant
        return not_granted_error(not_granted)
    user_refused = user_check is not None and is_grant_refusal(exc) and user_check()
    if isinstance(exc, SignerRefused):
        cause = exchange_message(exc.cause, user_refused=user_refused)
        cause = cause.replace("token exchange failed", "refused", 1)
        return tool_error(
            "your sign-in is no longer accepted: the identity domain refused to revalidate it "
            f"({cause}). Sign in again; if it keeps failing, ask an administrator (user "
            "inactive, token revoked, app deactivated or trust removed)",
            outcome="refused",
        )
    if isinstance(exc, RevalidationUnavailable):
        cause = exchange_message(exc.cause).replace("token exchange failed", "failed", 1)
        return tool_error(
            "your sign-in is due for revalidation and the identity domain could not confirm it "
            f"({cause}); the call was refused (fail closed) — try again shortly",
            warning=True,
            outcome="refused",
        )
    outage = _is_outage(exc)
    return tool_error(
        exchange_message(exc, user_refused=user_refused),
        warning=outage,
        outcome="tool_error" if outage else "refused",
    )


def _is_timeout(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, TimeoutError) or "Timeout" in current.__class__.__name__:
            return True
        current = current.__cause__ or current.__context__ or _first_arg_exception(current)
    return False


def _first_arg_exception(exc: BaseException) -> BaseException | None:
    first = exc.args[0] if exc.args else None
    return first if isinstance(first, BaseException) else None


def _is_outage(exc: BaseException) -> bool:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status is None or status >= 500 or status == 429


def oci_error(exc: Exception, operation: str) -> Exception:
    """A ToolError for a failed OCI SDK call: service code, message, opc-request-id."""
    from oci_mcp_cli.server.imports import import_failure, import_fault_error

    failure = import_failure(exc)
    if failure is not None:  # our process failed, not OCI (and `import oci` may fail too)
        return import_fault_error(failure)
    import oci
    from circuitbreaker import CircuitBreakerError
    from fastmcp.exceptions import ToolError

    from oci_mcp_cli.core.ociconfig import DeadlineExceeded

    if isinstance(exc, ToolError):
        return exc
    if isinstance(exc, CircuitBreakerError):
        breaker = getattr(exc, "_circuit_breaker", None)
        seconds = getattr(breaker, "open_remaining", None)
        when = f" for about {seconds}s" if isinstance(seconds, int) and seconds > 0 else ""
        return tool_error(
            f"OCI {operation} not attempted: it failed repeatedly for you just now (server "
            f"errors or timeouts), so your calls of it fail fast{when} (circuit breaker open); "
            "other operations are unaffected; try again later",
            warning=True,
            outcome="breaker",
        )
    if isinstance(exc, DeadlineExceeded) or (
        isinstance(exc, oci.exceptions.RequestException | oci.exceptions.ConnectTimeout)
        and _is_timeout(exc)
    ):
        return tool_error(_timeout_text(f"OCI {operation}"), warning=True, outcome="deadline")
    if isinstance(exc, oci.exceptions.ServiceError):
        message = redact(str(getattr(exc, "message", "") or ""))
        text = f"OCI {operation} failed: HTTP {exc.status} {exc.code}: {message}"
        if exc.request_id:
            text += f" (opc-request-id: {exc.request_id})"
        hint = classify_oci(exc.status, exc.code)
        if hint:
            text += f" — {hint}"
        return tool_error(text, warning=exc.status >= 500 or exc.status == 429)
    if isinstance(exc, oci.exceptions.RequestException | oci.exceptions.ConnectTimeout):
        return tool_error(
            f"OCI {operation} failed: cannot reach the service ({exc.__class__.__name__})",
            warning=True,
        )
    return tool_error(
        f"OCI {operation} failed: {exc.__class__.__name__}: {redact(str(exc))[:300]}"
    )
