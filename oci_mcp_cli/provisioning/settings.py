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
        "read domain Settings (IdentityDomainsClient.get_setting)",
        "get_setting",
        SETTINGS_ID,
        attributes=ATTRIBUTE,
    )
    return bool(setting.signing_cert_public_access)


def set_jwks_public(session: DomainSession, value: bool) -> Action:
    """PATCH only ``signingCertPublicAccess`` (never a whole PUT); no-op when already so."""
    if jwks_public(session) == value:
        return Action.UNCHANGED
    session.call(
        "update domain Settings (IdentityDomainsClient.patch_setting)",
        "patch_setting",
        SETTINGS_ID,
        patch_op=patch_op([("REPLACE", ATTRIBUTE, value)]),
    )
    return Action.UPDATED
