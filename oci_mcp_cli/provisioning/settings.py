"""Domain Settings: public JWKS access (``signingCertPublicAccess``), read and PATCHed alone."""

from __future__ import annotations

from oci_mcp_cli.provisioning.plan import Action
from oci_mcp_cli.provisioning.scim import patch_op
from oci_mcp_cli.provisioning.session import DomainSession

SETTINGS_ID = "Settings"
ATTRIBUTE = "signingCertPublicAccess"


def jwks_public(session: DomainSession) -> bool:
    """Whether the domain's JWKS is readable without credentials."""
    setting = session.call(
        session.client.get_setting, SETTINGS_ID, attributes=ATTRIBUTE, what="read domain Settings"
    )
    return bool(setting.signing_cert_public_access)


def set_jwks_public(session: DomainSession, value: bool) -> Action:
    """PATCH only ``signingCertPublicAccess`` (never a whole PUT); no-op when already so."""
    if jwks_public(session) == value:
        return Action.UNCHANGED
    session.call(
        session.client.patch_setting,
        SETTINGS_ID,
        patch_op=patch_op([("REPLACE", ATTRIBUTE, value)]),
        what="update domain Settings",
    )
    return Action.UPDATED
