"""Sign in without a browser (sandbox only): follow the redirects, approve FastMCP's consent page,
fill the sandbox's HTML sign-in form and capture ``code``/``state``/``iss`` from the loopback
redirect. One cookie-keeping HTTP client carries the whole flow (consent binding cookie).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import unescape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

from oci_mcp_cli.core.access import (
    ACCESS_DENIED,
    NOT_GRANTED_PAGE_CODE,
    AccessNotGranted,
    refusal_message,
)
from oci_mcp_cli.core.errors import RemoteError, UserError

MAX_HOPS = 25


@dataclass
class Form:
    """One HTML form: where it posts and its named fields (submit buttons included)."""

    action: str = ""
    method: str = "get"
    fields: dict[str, str] = field(default_factory=dict)
    password_field: str | None = None
    text_fields: list[str] = field(default_factory=list)
    buttons: dict[str, list[str]] = field(default_factory=dict)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(
                Form(action=a.get("action", ""), method=a.get("method", "get").lower())
            )
            return
        if not self.forms or "name" not in a:
            return
        form, name, kind = self.forms[-1], a["name"], a.get("type", "text").lower()
        if tag == "button" or kind == "submit":
            form.buttons.setdefault(name, []).append(a.get("value", ""))
        elif tag == "input":
            if kind == "password":
                form.password_field = name
            elif kind in ("text", "email"):
                form.text_fields.append(name)
            form.fields[name] = a.get("value", "")


def parse_forms(html: str) -> list[Form]:
    """All forms of a page."""
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def _fill(form: Form, username: str, password: str) -> dict[str, str] | None:
    """The POST body for a consent (approve) or sign-in form; None if it is neither."""
    data = dict(form.fields)
    if "csrf_token" in form.fields and "txn_id" in form.fields:
        data["action"] = "approve"
        return data
    if form.password_field:
        user_field = next(
            (f for f in form.text_fields if f.lower() in ("username", "user", "login", "email")),
            form.text_fields[0] if form.text_fields else "username",
        )
        data[user_field] = username
        data[form.password_field] = password
        for name, values in form.buttons.items():
            data.setdefault(name, values[0])
        return data
    return None


async def headless_authorize(
    authorization_url: str,
    redirect_prefix: str,
    username: str,
    password: str,
    not_granted: str | None = None,
) -> dict[str, str]:
    """Drive authorize → consent → sign-in → callback; returns the loopback query parameters.

    A refusal by the app's access control (the domain's 403 page with ``AUTHZ_APP_NOT_GRANTED``,
    or a redirect back with ``error=access_denied``) raises :class:`AccessNotGranted` with
    ``not_granted`` (default: the message without the app's name and groups)."""
    import httpx2

    from oci_mcp_cli.core.tlscontext import httpx2_verify

    url, method, data = authorization_url, "GET", None
    signed_in = False
    refusal = not_granted or refusal_message(None)
    http_client = httpx2.AsyncClient(follow_redirects=False, timeout=30, verify=httpx2_verify())
    async with http_client as http:
        for _ in range(MAX_HOPS):
            if url.startswith(redirect_prefix):
                query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
                if query.get("error") == ACCESS_DENIED:
                    detail = query.get("error_description", "")
                    evidence = f"{ACCESS_DENIED}: {_short(detail)}" if detail else ACCESS_DENIED
                    raise AccessNotGranted(refusal, evidence=evidence)
                if "error" in query:
                    detail = query.get("error_description", "")
                    raise RemoteError(f"sign-in was refused: {query['error']}: {detail}")
                return query
            response = await http.request(method, url, data=data)
            method, data = "GET", None
            if response.status_code in (301, 302, 303, 307, 308):
                url = urljoin(str(response.url), response.headers["location"])
                continue
            html = "html" in response.headers.get("content-type", "")
            if html and response.status_code == 403 and page_error_code(response.text) == (
                NOT_GRANTED_PAGE_CODE
            ):
                raise AccessNotGranted(refusal, evidence=f"HTTP 403 {NOT_GRANTED_PAGE_CODE}")
            forms = parse_forms(response.text) if html and response.status_code < 500 else []
            filled = [(f, b) for f in forms if (b := _fill(f, username, password)) is not None]
            if not filled:
                raise RemoteError(
                    f"sign-in failed at {_where(url)}: HTTP {response.status_code}: "
                    f"{_short(response.text)}"
                )
            form, body = filled[0]
            if form.password_field:
                if signed_in:
                    raise _refused(username, response.text)
                signed_in = True
            url = urljoin(str(response.url), form.action or str(response.url))
            method, data = ("POST", body) if form.method == "post" else ("GET", None)
            if method == "GET":
                url = f"{url}{'&' if '?' in url else '?'}{urlencode(body)}"
    raise RemoteError(f"sign-in failed: more than {MAX_HOPS} redirects")


class _ErrorCodeParser(HTMLParser):
    """The text of the element with ``id="error-code"`` (the domain's error page)."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.code: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.depth:
            self.depth += 1
        elif self.code is None and dict(attrs).get("id") == "error-code":
            self.depth = 1

    def handle_endtag(self, tag: str) -> None:
        if self.depth:
            self.depth -= 1
            if not self.depth:
                self.code = "".join(self._text).strip()

    def handle_data(self, data: str) -> None:
        if self.depth:
            self._text.append(data)


def page_error_code(html: str) -> str | None:
    """The error code an identity domain's error page shows (``<p id="error-code">``), if any."""
    parser = _ErrorCodeParser()
    parser.feed(html)
    return parser.code


SANDBOX_HINT = re.compile(r"\[sandbox hint: ([^\]]+)\]")


def _refused(username: str, page: str) -> UserError:
    """Wrong credentials; with the sandbox's hint when the user lives in another domain."""
    found = SANDBOX_HINT.search(unescape(page))
    if found:
        return UserError(
            f"sign-in as {username!r} failed: {found.group(1)}",
            hint="sign in as a user of the server's identity domain, or point the server at "
            "the user's domain (`oci-mcp init --domain <name>`)",
        )
    return UserError(
        f"sign-in as {username!r} failed: wrong username or password",
        hint="check --username/--password (or OCI_MCP_USERNAME/OCI_MCP_PASSWORD)",
    )


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _short(text: str) -> str:
    from oci_mcp_cli.core.redact import redact

    return redact(" ".join(text.split()))[:200]


def headless_oauth(
    username: str,
    password: str,
    base: type | None = None,
    not_granted: str | None = None,
    **kwargs: Any,
) -> Any:
    """A FastMCP ``OAuth`` (or ``base`` subclass) that signs in with ``username``/``password``
    instead of a browser (``not_granted``: what a user the app's access control refuses reads)."""
    from fastmcp.client.auth import OAuth
    from mcp.client.auth import AuthorizationCodeResult

    class HeadlessOAuth(base or OAuth):  # type: ignore[misc]
        _result: dict[str, str] | None = None

        async def redirect_handler(self, authorization_url: str) -> None:
            if not password:
                raise UserError(
                    f"signing in as {username!r} needs a password (no cached tokens to reuse)",
                    hint="pass --password or set OCI_MCP_PASSWORD",
                )
            prefix = str(self.context.client_metadata.redirect_uris[0])
            self._result = await headless_authorize(
                authorization_url, prefix, username, password, not_granted
            )

        async def callback_handler(self) -> AuthorizationCodeResult:
            result, self._result = self._result or {}, None
            return AuthorizationCodeResult(
                code=result.get("code", ""), state=result.get("state"), iss=result.get("iss")
            )

    return HeadlessOAuth(**kwargs)
