"""pytest plugin: fixtures to test your own OCI MCP tools against the sandbox.

Registered through the ``pytest11`` entry point, so installing oci-mcp is enough::

    # conftest.py
    import pytest
    from myserver import mcp

    @pytest.fixture(scope="session")
    def oci_mcp_app():
        return mcp

    # test_tools.py
    def test_my_tool(oci_mcp):
        assert oci_mcp.call("whoami", user="alice")["user_name"] == "alice"

Fixtures: ``oci_mcp_app`` (override it; default: no app, the built-in tools only) and ``oci_mcp``
(a session-wide :class:`~oci_mcp_cli.testing.stack.McpStack`). Imports stay lazy: this module is
loaded by every pytest run in an environment where oci-mcp is installed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def oci_mcp_app() -> Any | None:
    """Your FastMCP instance; override in conftest.py (session scope). None = built-in tools."""
    return None


@pytest.fixture(scope="session")
def oci_mcp(oci_mcp_app: Any | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Sandbox + provisioned domain + your server, signed-in calls via ``oci_mcp.call(...)``."""
    from oci_mcp_cli.testing.stack import McpStack

    with McpStack(oci_mcp_app, state_dir=tmp_path_factory.mktemp("oci-mcp")) as stack:
        yield stack
