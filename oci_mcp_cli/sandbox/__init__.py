"""The local identity domain + OCI API stand-in (see docs/sandbox.md).

``from oci_mcp_cli.sandbox import Sandbox`` — imported lazily so the CLI stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oci_mcp_cli.sandbox.runner import Sandbox

__all__ = ["Sandbox"]


def __getattr__(name: str) -> Any:
    if name == "Sandbox":
        from oci_mcp_cli.sandbox.runner import Sandbox

        return Sandbox
    raise AttributeError(name)
