"""Keep bearer tokens out of text we print or log: anything shaped like a JWT is replaced."""

from __future__ import annotations

import re

JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")


def redact(text: str) -> str:
    """Replace anything that looks like a JWT with ``[redacted-jwt]``."""
    return JWT_RE.sub("[redacted-jwt]", text)
