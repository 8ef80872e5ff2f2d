"""The real OCI hostnames the sandbox answers on (transparent mode) and where each one routes.

Derived from the SDK's endpoint templates (oci 2.189.0) and its realm table, for the sandbox's
domains and regions, never from a guess at "everything under oraclecloud.com":

- identity domains: ``idcs-<guid>.identity.oraclecloud.com`` (``Domain.url``; reference §7);
- ``IdentityClient``: ``identity.{region}.oci.{secondLevelDomain}``;
- ``ObjectStorageClient``: ``objectstorage.{region}.{dualStack?ds.oci.:}{secondLevelDomain}``
  and, per realm (oc1, opt-in),
  ``{namespaceName+Dot}objectstorage.{region}.{dualStack?ds.:}oci.customer-oci.com``.

- ``ComputeClient`` / ``VirtualNetworkClient``: ``iaas.{region}.{dualStack?ds.oci.:}{sld}``;
- ``ResourceSearchClient``: ``query.{region}.oci.{sld}``.

``tests/test_transparent.py`` checks these against the SDK's own clients.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

DOMAIN_HOST_SUFFIX = ".identity.oraclecloud.com"
DEFAULT_SECOND_LEVEL_DOMAIN = "oraclecloud.com"  # realm oc1
IDENTITY_TEMPLATES = ("identity.{region}.oci.{sld}",)
OBJECTSTORAGE_TEMPLATES = (
    "objectstorage.{region}.{sld}",
    "objectstorage.{region}.ds.oci.{sld}",
)
OBJECTSTORAGE_OC1_REALM_TEMPLATES = (
    "objectstorage.{region}.oci.customer-oci.com",
    "objectstorage.{region}.ds.oci.customer-oci.com",
    "{namespace}.objectstorage.{region}.oci.customer-oci.com",
    "{namespace}.objectstorage.{region}.ds.oci.customer-oci.com",
)
CORE_TEMPLATES = ("iaas.{region}.{sld}", "iaas.{region}.ds.oci.{sld}")
SEARCH_TEMPLATES = ("query.{region}.oci.{sld}",)
# What each family serves on its regional host (anything else there is 404, as on OCI).
FAMILY_PATH_PREFIXES = {
    "identity": ("/20160918/",),
    "objectstorage": ("/n",),
    "core": ("/20160918/instances", "/20160918/vcns", "/20160918/subnets"),
    "search": ("/20180409/",),
}


def https_domain_url(guid: str) -> str:
    """``https://idcs-<guid>.identity.oraclecloud.com`` (no ``:443``)."""
    return f"https://{guid}{DOMAIN_HOST_SUFFIX}"


def second_level_domain(region: str) -> str:
    """The realm's domain of ``region`` from the SDK's realm table (oc1 when unknown)."""
    try:
        from oci import regions
    except ImportError:  # pragma: no cover - oci is a dependency
        return DEFAULT_SECOND_LEVEL_DOMAIN
    realm = regions.REGION_REALMS.get(region, "oc1")
    return str(regions.REALMS.get(realm, DEFAULT_SECOND_LEVEL_DOMAIN))


def bare_host(host: str) -> str:
    """``host`` without ``:port``, trailing dot, brackets or case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0].rstrip(".") if ":" in host else host.rstrip(".")


@dataclass(frozen=True)
class HostRoute:
    family: str  # "domain" | "identity" | "objectstorage" | "core" | "search"
    guid: str | None = None


class HostMap:
    """Every emulated hostname → :class:`HostRoute`."""

    def __init__(self, guids: Iterable[str], regions: Iterable[str], namespace: str):
        routes: dict[str, HostRoute] = {}
        for guid in guids:
            routes[f"{guid}{DOMAIN_HOST_SUFFIX}"] = HostRoute("domain", guid)
        for region in regions:
            sld = second_level_domain(region)
            for family, regional in (
                ("identity", IDENTITY_TEMPLATES),
                ("core", CORE_TEMPLATES),
                ("search", SEARCH_TEMPLATES),
            ):
                for template in regional:
                    routes[template.format(region=region, sld=sld)] = HostRoute(family)
            templates = list(OBJECTSTORAGE_TEMPLATES)
            if sld == DEFAULT_SECOND_LEVEL_DOMAIN:
                templates += OBJECTSTORAGE_OC1_REALM_TEMPLATES
            for template in templates:
                host = template.format(region=region, sld=sld, namespace=namespace)
                routes[host] = HostRoute("objectstorage")
        self._routes = routes

    @property
    def hosts(self) -> list[str]:
        return sorted(self._routes)

    def route(self, host: str | None) -> HostRoute | None:
        return self._routes.get(bare_host(host or "")) if host else None

    def allows(self, host: str | None) -> bool:
        return self.route(host) is not None
