"""Service name ↔ PyPI package ↔ module ↔ resource scope, exactly as the servers derive them.

Each server computes its default scope from its project name (``server.py`` ``main``)::

    "oci_mcp." + project.removeprefix("oracle.oci-").removesuffix("-mcp-server")
    .replace("-", "_") + ".invoke"

so ``object-storage`` → ``oracle.oci-object-storage-mcp-server`` →
``oci_mcp.object_storage.invoke``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from oci_mcp_cli.core.errors import UserError

_NAME = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
OIDC_SCOPES = ("openid", "profile", "email")
KNOWN = (
    "object-storage",
    "identity",
    "compute",
    "networking",
    "database",
    "monitoring",
    "logging",
    "usage",
    "cloud-guard",
    "registry",
    "resource-search",
    "faaas",
    "migration",
    "cloud",
    "api",
)
"""Services we have seen on PyPI (not a limit: any ``oracle.oci-<name>-mcp-server`` works)."""


@dataclass(frozen=True)
class OracleService:
    """One official server, by its short name (``object-storage``)."""

    name: str

    @classmethod
    def parse(cls, value: str) -> OracleService:
        name = value.strip().lower()
        for prefix, suffix in (("oracle.oci-", "-mcp-server"), ("oci-", "-mcp-server")):
            if name.startswith(prefix) and name.endswith(suffix):
                name = name[len(prefix) : -len(suffix)]
        name = name.replace("_", "-")
        if not _NAME.fullmatch(name):
            raise UserError(
                f"{value!r} is not an Oracle OCI MCP server name",
                hint="use the short name, e.g. --service object-storage (from the PyPI package "
                "oracle.oci-object-storage-mcp-server)",
            )
        return cls(name)

    @property
    def package(self) -> str:
        return f"oracle.oci-{self.name}-mcp-server"

    @property
    def module(self) -> str:
        return f"oracle.oci_{self.name.replace('-', '_')}_mcp_server.server"

    @property
    def scope(self) -> str:
        """The bare scope the server requires (and finds in the access token)."""
        return f"oci_mcp.{self.name.replace('-', '_')}.invoke"

    @property
    def required_scopes(self) -> tuple[str, ...]:
        return (*OIDC_SCOPES, self.scope)

    def fqs(self, audience: str) -> str:
        """The fully qualified scope a client requests at /authorize (audience + scope)."""
        return audience + self.scope

    def env_file_name(self, base: str = ".env") -> str:
        return f"{base}.oracle-{self.name}"


def parse_services(values: list[str] | tuple[str, ...] | None) -> list[OracleService]:
    """Parse and de-duplicate (order kept)."""
    out: list[OracleService] = []
    for value in values or ():
        for part in str(value).split(","):
            if part.strip():
                service = OracleService.parse(part)
                if service not in out:
                    out.append(service)
    return out


def default_calls(service: OracleService, tenancy_id: str | None) -> list[tuple[str, dict]]:
    """What `test-client --oracle S` calls when no --call is given (their tools need a
    compartment; the tenancy is the root compartment)."""
    if not tenancy_id:
        return []
    if service.name == "object-storage":
        return [("get_namespace", {"compartment_id": tenancy_id})]
    if service.name == "identity":
        return [("get_current_user", {}), ("list_compartments", {"compartment_id": tenancy_id})]
    return []
