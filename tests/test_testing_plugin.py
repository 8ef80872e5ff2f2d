"""The user-facing test kit: a user's own project tests its own tool with the pytest plugin.

The inner test session runs in a subprocess (pytester) exactly as a user's CI would: the plugin is
found through the installed ``pytest11`` entry point, nothing from our tests/ is imported.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

USER_SERVER = '''
from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from oci.object_storage import ObjectStorageClient

from oci_mcp_cli.server.clients import oci_client, upst_claims

mcp = FastMCP("my-tools")


@mcp.tool
def my_buckets(compartment_name: str) -> list[str]:
    """Bucket names in a compartment (by name), as the signed-in user."""
    from oci.identity import IdentityClient

    tenancy = upst_claims()["tenant"]
    identity = oci_client(IdentityClient)
    compartments = identity.list_compartments(tenancy, compartment_id_in_subtree=True).data
    match = [c.id for c in compartments if c.name == compartment_name]
    if not match:
        raise ToolError(f"no compartment {compartment_name!r} visible to you")
    client = oci_client(ObjectStorageClient)
    namespace = client.get_namespace().data
    return sorted(b.name for b in client.list_buckets(namespace, match[0]).data)
'''

USER_CONFTEST = '''
import pytest

from my_server import mcp


@pytest.fixture(scope="session")
def oci_mcp_app():
    return mcp
'''

USER_TESTS = '''
import pytest

from oci_mcp_cli.testing.stack import ToolCallError


def test_alice_sees_engineering_buckets(oci_mcp):
    assert oci_mcp.call("my_buckets", user="alice", compartment_name="engineering") == [
        "eng-artifacts", "eng-logs"]


def test_bob_cannot_see_engineering(oci_mcp):
    with pytest.raises(ToolCallError, match="no compartment 'engineering'"):
        oci_mcp.call("my_buckets", user="bob", compartment_name="engineering")


def test_builtin_tools_are_served_alongside(oci_mcp):
    assert oci_mcp.call("whoami", user="bob")["user_name"] == "bob"


async def test_async_client_session(oci_mcp):
    async with oci_mcp.client("alice") as client:
        names = [tool.name for tool in await client.list_tools()]
    assert "my_buckets" in names
'''


def test_users_own_tool_is_tested_through_the_plugin(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(my_server=USER_SERVER, conftest=USER_CONFTEST, test_my_tools=USER_TESTS)
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


def test_a_wrong_expectation_fails_the_users_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_wrong="def test_wrong(oci_mcp):\n"
        "    assert oci_mcp.call('whoami', user='alice')['user_name'] == 'bob'\n"
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)


def test_readme_example_runs_against_the_scaffold(pytester: pytest.Pytester) -> None:
    """The README's "Test your own tools in CI" snippet, verbatim, on the `oci-mcp new` server."""
    import re
    from pathlib import Path

    from oci_mcp_cli.core.templates import read_template

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("<!-- section:testing -->", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code, "the README testing section has a python example"
    conftest, tests = code.group(1).split("# test_tools.py\n", 1)
    pytester.makepyfile(
        server=read_template("server/server.py"), conftest=conftest, test_tools=tests
    )
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
