"""What a user refused by the identity domain's access control is told (issue 20).

An app with ``allowAccessControl`` lets only granted users sign in (directly or through a group).
The domain says no in three places, each recognised by its own code, never by free text:

- ``/authorize``: its error page (HTTP 403) carrying the error code :data:`NOT_GRANTED_PAGE_CODE`
  (a real domain may instead redirect back with ``error=access_denied``);
- the token endpoint (refresh) and the UPST token exchange (also run to revalidate a cached
  signer): ``400 invalid_grant`` with the description :data:`NOT_GRANTED_DESCRIPTION`.

Both the test client and the server answer with :func:`refusal_message`: the app's display name
and the groups this project granted (``OCI_MCP_ALLOWED_GROUPS`` in ``.env``).
"""

from __future__ import annotations

from dataclasses import dataclass

from oci_mcp_cli.core import envfile as E
from oci_mcp_cli.core.errors import OciMcpError

NOT_GRANTED_PAGE_CODE = "AUTHZ_APP_NOT_GRANTED"
NOT_GRANTED_DESCRIPTION = "User is not authorized to access the app."
NOT_GRANTED_REASON = "not_granted"  # the audit reason of a call refused for it
ACCESS_DENIED = "access_denied"  # RFC 6749 §4.1.2.1: the domain's redirect back, if any
DEFAULT_APP_LABEL = "this MCP server's app"


def split_names(value: str | None) -> tuple[str, ...]:
    """A comma-separated ``.env`` list as names (blanks dropped, order kept, no duplicates)."""
    names = (part.strip() for part in (value or "").split(","))
    return tuple(dict.fromkeys(name for name in names if name))


@dataclass(frozen=True)
class AccessRecord:
    """What ``.env`` says about who may sign in: the app's display name and the granted groups
    and users this project recorded."""

    app_name: str | None = None
    groups: tuple[str, ...] = ()
    users: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: E.EnvFile) -> AccessRecord:
        return cls(
            app_name=env.get(E.OCI_MCP_APP_NAME),
            groups=split_names(env.get(E.OCI_MCP_ALLOWED_GROUPS)),
            users=split_names(env.get(E.OCI_MCP_ALLOWED_USERS)),
        )

    def refusal(self) -> str:
        """The one sentence a refused user reads."""
        return refusal_message(self.app_name, self.groups)


def refusal_message(app_name: str | None, groups: tuple[str, ...] = ()) -> str:
    """"your account is not granted access to <app>; ask an administrator to add you to group
    <g1> or <g2>" — without recorded groups, to ask for a grant of the app."""
    app = app_name or DEFAULT_APP_LABEL
    if groups:
        fix = f"ask an administrator to add you to group {' or '.join(groups)}"
    else:
        fix = f"ask an administrator of the identity domain to grant you access to {app}"
    return f"your account is not granted access to {app}; {fix}"


class AccessNotGranted(OciMcpError):
    """The identity domain refused the sign-in: the app requires a grant the user lacks.
    Exit code 1 (not bad input: nothing the user typed is wrong)."""

    def __init__(self, message: str, *, evidence: str) -> None:
        super().__init__(
            message,
            hint=f"the identity domain refused the sign-in ({evidence}): the app lets only "
            "granted users and group members sign in; once you are granted, run the command again",
        )
