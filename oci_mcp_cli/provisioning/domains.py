"""Which identity domain: --domain-url, --domain NAME, an interactive pick, or DEFAULT."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from oci_mcp_cli.core.errors import UserError
from oci_mcp_cli.core.ociconfig import OciAuth, oci_client
from oci_mcp_cli.core.urls import domain_guid, normalize_domain_url
from oci_mcp_cli.provisioning.session import oci_call

DEFAULT_TYPE = "DEFAULT"
DOMAIN_URL_EXAMPLE = "https://idcs-0123456789abcdef0123456789abcdef.identity.oraclecloud.com"
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_RE = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")
DISCOVERY_TIMEOUT = (5.0, 10.0)  # (connect, overall) seconds: fail fast on an unreachable domain


def checked_domain_url(value: str) -> str:
    """:func:`normalize_domain_url` for a user-given ``--domain-url``: a host name or IP address
    (not just any text), with a domain URL as the example in the fix."""
    from urllib.parse import urlsplit

    try:
        url = normalize_domain_url(value)
    except UserError as exc:
        raise UserError(
            f"--domain-url: {exc.message}",
            hint=f"pass the domain URL shown in the console, e.g. {DOMAIN_URL_EXAMPLE}",
        ) from None
    host = urlsplit(url).hostname or ""
    if not _HOST_RE.match(host) and not _is_ip(host):
        raise UserError(
            f"--domain-url {value!r} is not a URL of an identity domain (bad host {host!r})",
            hint=f"pass the domain URL shown in the console, e.g. {DOMAIN_URL_EXAMPLE}",
        )
    return url


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class DomainInfo:
    """An identity domain as listed by the IAM control plane (or given by URL only)."""

    url: str
    display_name: str | None = None
    type: str | None = None

    @property
    def guid(self) -> str | None:
        """``idcs-<32 hex>`` when the URL carries it (a local sandbox domain URL does not)."""
        guid = domain_guid(self.url)
        return guid if guid.startswith("idcs-") else None

    @property
    def label(self) -> str:
        name = self.display_name or self.guid or self.url
        return f"{name} ({self.type})  {self.url}" if self.type else f"{name}  {self.url}"


DomainChooser = Callable[[list[DomainInfo]], DomainInfo]


def list_domains(auth: OciAuth) -> list[DomainInfo]:
    """The tenancy's active identity domains (IdentityClient.list_domains)."""
    import oci

    if not auth.tenancy_id:
        raise UserError(
            "cannot list identity domains: the credentials carry no tenancy OCID",
            hint="pass --domain-url",
        )
    client = oci_client(oci.identity.IdentityClient, auth)
    items: list = []
    page = None
    while True:  # paged by hand: the SDK's pagination helper adds its own slow retry layer
        kwargs: dict[str, str] = {"page": page} if page else {}
        response = oci_call(
            "IdentityClient.list_domains",
            client.list_domains,
            compartment_id=auth.tenancy_id,
            **kwargs,
        )
        items.extend(response.data)
        page = response.next_page
        if not page:
            break
    found = []
    for item in items:
        if getattr(item, "lifecycle_state", "ACTIVE") not in (None, "ACTIVE"):
            continue
        found.append(
            DomainInfo(
                url=normalize_domain_url(item.url), display_name=item.display_name, type=item.type
            )
        )
    return found


def resolve_domain(
    auth: OciAuth,
    *,
    domain_url: str | None = None,
    domain_name: str | None = None,
    choose: DomainChooser | None = None,
) -> DomainInfo:
    """Pick the domain: explicit URL, then name, then ``choose`` (interactive), then DEFAULT."""
    if domain_url and domain_name:
        raise UserError("pass either --domain-url or --domain, not both")
    if domain_url:
        return DomainInfo(url=checked_domain_url(domain_url))
    domains = list_domains(auth)
    if not domains:
        raise UserError("the tenancy has no active identity domain", hint="pass --domain-url")
    if domain_name:
        wanted = domain_name.strip().lower()
        for domain in domains:
            if (domain.display_name or "").lower() == wanted:
                return domain
        names = ", ".join(d.display_name or d.url for d in domains)
        raise UserError(f"no identity domain named {domain_name!r}", hint=f"use one of: {names}")
    if len(domains) == 1:
        return domains[0]
    if choose is not None:
        return choose(domains)
    default = [d for d in domains if d.type == DEFAULT_TYPE]
    if len(default) == 1:
        return default[0]
    listing = "; ".join(d.label for d in domains)
    raise UserError(
        f"the tenancy has {len(domains)} identity domains and none is of type DEFAULT: "
        f"which one? ({listing})",
        hint="pass --domain NAME or --domain-url URL",
    )


def home_region(auth: OciAuth) -> str | None:
    """The tenancy's home region (list_region_subscriptions); the profile region as a fallback."""
    import oci

    if not auth.tenancy_id:
        return auth.region
    client = oci_client(oci.identity.IdentityClient, auth)
    subscriptions = oci_call(
        "IdentityClient.list_region_subscriptions",
        client.list_region_subscriptions,
        auth.tenancy_id,
    ).data
    for sub in subscriptions:
        if sub.is_home_region:
            return str(sub.region_name)
    return auth.region


@dataclass(frozen=True)
class Discovery:
    """What the trust needs from the domain's OIDC discovery document."""

    issuer: str
    jwks_uri: str


def fetch_discovery(domain_url: str) -> Discovery:
    """GET the public discovery document and read ``issuer`` and ``jwks_uri``."""
    import httpx

    from oci_mcp_cli.core.errors import RemoteError
    from oci_mcp_cli.core.tlscontext import httpx_verify
    from oci_mcp_cli.core.urls import discovery_url

    url = discovery_url(domain_url)
    connect, overall = DISCOVERY_TIMEOUT
    try:
        response = httpx.get(
            url,
            timeout=httpx.Timeout(overall, connect=connect),
            follow_redirects=True,
            verify=httpx_verify(),
        )
    except httpx.HTTPError as exc:
        why = str(exc) or exc.__class__.__name__
        raise UserError(
            f"cannot reach the identity domain at {url}: {exc.__class__.__name__}: {why}",
            hint="check --domain-url (or IAM_DOMAIN in .env) and the network",
        ) from exc
    if response.status_code != 200:
        raise RemoteError(
            f"GET {url} returned HTTP {response.status_code}",
            hint="check that the domain URL is right",
            status=response.status_code,
        )
    try:
        doc = response.json()
        return Discovery(issuer=str(doc["issuer"]), jwks_uri=str(doc["jwks_uri"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise RemoteError(
            f"{url} is not an OpenID discovery document (no issuer/jwks_uri)"
        ) from exc
