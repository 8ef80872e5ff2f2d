"""Unit tests of the sandbox's SCIM filter (RFC 7644 §3.4.2.2; fully qualified names §3.10)."""

from __future__ import annotations

from typing import Any

import pytest

from oci_mcp_cli.sandbox.scim.filter import lookup, parse_filter
from oci_mcp_cli.sandbox.wire import ScimError

APP_SCHEMA = "urn:ietf:params:scim:schemas:oracle:idcs:App"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
OCI_TAGS = "urn:ietf:params:scim:schemas:oracle:idcs:extension:OCITags"

APP: dict[str, Any] = {
    "schemas": [APP_SCHEMA],
    "id": "a1",
    "displayName": "My Web App",
    "name": "webapp_1",
    "active": True,
    "redirectUris": ["https://example.com/cb"],
    "basedOnTemplate": {"value": "CustomWebAppTemplateId"},
    "allowedGrants": ["authorization_code", "refresh_token"],
    OCI_TAGS: {"freeformTags": [{"key": "team", "value": "eng"}]},
}
USER: dict[str, Any] = {
    "schemas": [USER_SCHEMA, ENTERPRISE],
    "id": "u1",
    "userName": "alice",
    "name": {"givenName": "Alice", "familyName": "Liddell"},
    "emails": [
        {"value": "alice@example.com", "type": "work", "primary": True},
        {"value": "alice@home.example", "type": "home", "primary": False},
    ],
    ENTERPRISE: {"employeeNumber": "42", "manager": {"value": "m1"}},
}


def matches(text: str, resource: dict[str, Any], case_exact: tuple[str, ...] = ()) -> bool:
    return parse_filter(text, case_exact)(resource)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('displayName eq "My Web App"', True),
        ('displayName eq "my web app"', True),  # strings compare case-insensitively
        ('displayName ne "My Web App"', False),
        ('displayName co "Web"', True),
        ('displayName sw "my"', True),
        ('displayName ew "app"', True),
        ('displayName sw "Web"', False),
        ("displayName pr", True),
        ("description pr", False),
        ("active eq true", True),
        ("active eq false", False),
        ('allowedGrants eq "refresh_token"', True),  # multi-valued: any value
        ('basedOnTemplate.value eq "CustomWebAppTemplateId"', True),
    ],
)
def test_operators(text: str, expected: bool) -> None:
    assert matches(text, APP) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('displayName eq "My Web App" and active eq true', True),
        ('displayName eq "x" and active eq true', False),
        ('displayName eq "x" or active eq true', True),
        ('displayName eq "x" or name eq "y"', False),
        ('not (displayName eq "x")', True),
        ('not (displayName eq "My Web App")', False),
        ('(displayName eq "x" or name eq "webapp_1") and active eq true', True),
        ('displayName eq "x" or name eq "webapp_1" and active eq false', False),  # and binds first
        ('displayName eq "My Web App" or name eq "y" and active eq false', True),
    ],
)
def test_logic_and_parentheses(text: str, expected: bool) -> None:
    assert matches(text, APP) is expected


def test_attribute_names_and_operators_are_case_insensitive() -> None:
    assert matches('DISPLAYNAME EQ "My Web App" AND Active Eq TRUE', APP)
    assert matches('NAME.GIVENNAME eq "alice"', USER)


def test_case_exact_attributes_compare_exactly() -> None:
    assert matches('redirectUris eq "https://example.com/cb"', APP, ("redirectUris",))
    assert not matches('redirectUris eq "HTTPS://EXAMPLE.COM/CB"', APP, ("redirectUris",))
    assert not matches(
        f'{APP_SCHEMA}:redirectUris eq "HTTPS://EXAMPLE.COM/CB"', APP, ("redirectUris",)
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('emails[type eq "work" and value co "example.com"]', True),
        ('emails[type eq "work" and primary eq false]', False),
        ('emails[type eq "home"] and userName eq "alice"', True),
        ("emails[primary eq true]", True),
        ('name[givenName sw "A"]', True),  # a single complex value
    ],
)
def test_complex_value_filters(text: str, expected: bool) -> None:
    assert matches(text, USER) is expected


@pytest.mark.parametrize(
    ("text", "resource", "expected"),
    [
        (f'{APP_SCHEMA}:displayName eq "My Web App"', APP, True),
        (f'{APP_SCHEMA.upper()}:DISPLAYNAME eq "My Web App"', APP, True),
        (f'{APP_SCHEMA}:displayName eq "other"', APP, False),
        (f'{APP_SCHEMA}:basedOnTemplate.value eq "CustomWebAppTemplateId"', APP, True),
        (f"{APP_SCHEMA}:displayName pr", APP, True),
        (f'{USER_SCHEMA}:userName eq "alice"', USER, True),  # core schema URN with a "2.0"
        (f'{USER_SCHEMA}:name.givenName eq "Alice"', USER, True),
        (f'{USER_SCHEMA}:emails[type eq "work"]', USER, True),
        (f'{ENTERPRISE}:employeeNumber eq "42"', USER, True),  # extension schema
        (f'{ENTERPRISE}:manager.value eq "m1"', USER, True),
        (f'{ENTERPRISE}:employeeNumber eq "7"', USER, False),
        (f"{ENTERPRISE} pr", USER, True),  # the extension object itself
        (f'{OCI_TAGS}:freeformTags[key eq "team" and value eq "eng"]', APP, True),
        (f'{USER_SCHEMA}:userName eq "alice"', APP, False),  # not this resource's schema
        ('urn:example:unknown:displayName eq "My Web App"', APP, False),
    ],
)
def test_fully_qualified_names(text: str, resource: dict[str, Any], expected: bool) -> None:
    assert matches(text, resource) is expected


def test_lookup_resolves_fully_qualified_paths() -> None:
    assert lookup(USER, f"{USER_SCHEMA}:emails.value") == [
        "alice@example.com",
        "alice@home.example",
    ]
    assert lookup(USER, f"{ENTERPRISE}:EMPLOYEENUMBER") == "42"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "displayName",
        'displayName zz "x"',
        "displayName eq unquoted",
        '(displayName eq "x"',
        'emails[type eq "work"',
        'displayName eq "x" extra',
        'displayName eq "x" and',
        '"x" eq displayName',
        'displayName eq "bad \\q escape"',
    ],
)
def test_invalid_filter_is_400_invalid_filter(text: str) -> None:
    with pytest.raises(ScimError) as caught:
        parse_filter(text)
    assert caught.value.status == 400
    assert caught.value.message_id == "error.common.invalidFilter"
    assert caught.value.detail.startswith("Invalid filter: ")
