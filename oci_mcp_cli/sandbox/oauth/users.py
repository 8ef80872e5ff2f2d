"""Finding a domain user by a SCIM attribute (attribute names are case-insensitive)."""

from __future__ import annotations

from oci_mcp_cli.sandbox.models import Domain, User

# SCIM attribute name (lowercased) -> (User field, case-insensitive value match)
USER_ATTRIBUTES: dict[str, tuple[str, bool]] = {
    "username": ("user_name", True),
    "emails.value": ("email", True),
    "email": ("email", True),
    "id": ("id", False),
    "ocid": ("ocid", False),
}


class UnknownAttribute(ValueError):
    """The mapping attribute is not one the sandbox can match users on."""


def find_user(domain: Domain, attribute: str, value: str) -> User | None:
    """The user of THIS domain whose ``attribute`` equals ``value`` (active or not)."""
    try:
        field_name, fold = USER_ATTRIBUTES[attribute.lower()]
    except KeyError:
        raise UnknownAttribute(attribute) from None
    wanted = value.lower() if fold else value
    for user in domain.users.values():
        have = str(getattr(user, field_name))
        if (have.lower() if fold else have) == wanted:
            return user
    return None
