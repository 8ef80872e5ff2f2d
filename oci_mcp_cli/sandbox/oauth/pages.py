"""HTML of the sign-in page and the error page (plain, accessible, works in any browser)."""

from __future__ import annotations

from html import escape

_STYLE = """
body{font-family:system-ui,sans-serif;background:#f5f4f2;margin:0;display:flex;justify-content:center}
main{background:#fff;margin-top:8vh;padding:2rem 2.5rem;border-radius:8px;width:22rem;
box-shadow:0 2px 10px rgba(0,0,0,.1)}
h1{font-size:1.3rem;margin:0 0 .3rem}p.sub{color:#555;margin:0 0 1.2rem}
label{display:block;margin:.8rem 0 .3rem;font-weight:600}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem}
button{margin-top:1.2rem;width:100%;padding:.6rem;font-size:1rem;background:#312d2a;color:#fff;
border:0;border-radius:4px;cursor:pointer}
.error{background:#fde8e8;color:#8a1c1c;padding:.6rem;border-radius:4px}
footer{margin-top:1.2rem;color:#888;font-size:.8rem}
"""


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}<footer>OCI identity domain sandbox (oci-mcp)</footer></main>"
        "</body></html>\n"
    )


def sign_in_page(
    *,
    action: str,
    domain_name: str,
    app_name: str,
    hidden: dict[str, str],
    username: str = "",
    error: str | None = None,
) -> str:
    """The sign-in form: ``username``, ``password``, the hidden authorize params + ``txn``."""
    fields = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in hidden.items()
    )
    alert = f'<p class="error" role="alert" id="error">{escape(error)}</p>' if error else ""
    body = (
        f"<h1>Sign in to {escape(domain_name)}</h1>"
        f'<p class="sub">to continue to <strong>{escape(app_name)}</strong></p>{alert}'
        f'<form method="post" action="{escape(action)}" id="signin">{fields}'
        '<label for="username">User name</label>'
        f'<input type="text" id="username" name="username" value="{escape(username)}" '
        'autocomplete="username" autofocus required>'
        '<label for="password">Password</label>'
        '<input type="password" id="password" name="password" '
        'autocomplete="current-password" required>'
        '<button type="submit">Sign In</button></form>'
    )
    return _page(f"Sign in - {domain_name}", body)


def error_page(title: str, message: str) -> str:
    body = f'<h1>{escape(title)}</h1><p class="error" role="alert" id="error">{escape(message)}</p>'
    return _page(title, body)


NOT_GRANTED = "You are not authorized to access the app. Contact your system administrator."
NOT_GRANTED_CODE = "AUTHZ_APP_NOT_GRANTED"


def not_granted_page(app_name: str) -> str:
    """The domain's page for a signed-in user who is not granted the app (no way back to it)."""
    body = (
        f"<h1>Access denied</h1><p class=\"sub\">{escape(app_name)}</p>"
        f'<p class="error" role="alert" id="error">{escape(NOT_GRANTED)}</p>'
        f'<p id="error-code">{NOT_GRANTED_CODE}</p>'
    )
    return _page("Access denied", body)
