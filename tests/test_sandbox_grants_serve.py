"""Issue 20 end to end: the real server (in-process, ``--revalidate-after 0``) in front of a
sandbox app that requires grants. Alice, granted through the group mcp-users, calls a tool;
removed from the group, her next call's revalidation (the UPST exchange) is refused by the domain;
added back, a new exchange with the same sign-in works. No server code knows about grants."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from oauth_flow import admin_domains_client, patch
from serve_support import server_stack, signed_in

from oci_mcp_cli.client.session import call_tool

pytestmark = pytest.mark.e2e
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def test_removal_from_the_group_refuses_alice_at_her_next_revalidation(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from oci.identity_domains import models as m

    with server_stack(tmp_path_factory.mktemp("grants-serve"), revalidate_after=0) as st:
        idc = admin_domains_client(st.sb, st.settings.domain_url)
        app = idc.list_apps(filter=f'name eq "{st.settings.client_id}"').data.resources[0]
        patch(lambda rid, patch_op: idc.patch_app(rid, patch_op=patch_op), app.id,
              "allowAccessControl", True)
        group = idc.list_groups(filter='displayName eq "mcp-users"').data.resources[0]
        idc.create_grant(grant=m.Grant(
            schemas=["urn:ietf:params:scim:schemas:oracle:idcs:Grant"],
            grant_mechanism="ADMINISTRATOR_TO_GROUP",
            grantee=m.GrantGrantee(type="Group", value=group.id), app=m.GrantApp(value=app.id)))
        alice = idc.list_users(filter='userName eq "alice"').data.resources[0].id

        def membership(op: dict[str, Any]) -> None:
            idc.patch_group(group.id, patch_op={"schemas": [PATCH], "Operations": [op]})

        async def main() -> list[tuple[bool, Any]]:
            async with signed_in(st, "alice") as client:
                first = await call_tool(client, "whoami", {})
                membership({"op": "remove", "path": f'members[value eq "{alice}"]'})
                st.sb.clear_requests()
                refused = await call_tool(client, "whoami", {})
                exchanges = [r["status"] for r in st.sb.requests()
                             if r.get("grant_type") == EXCHANGE]
                membership({"op": "add", "path": "members",
                            "value": [{"value": alice, "type": "User"}]})
                again = await call_tool(client, "whoami", {})
                return [first, refused, (True, exchanges), again]

        first, refused, (_, exchanges), again = anyio.run(main)
        assert first[0], first
        assert not refused[0], refused
        assert exchanges == [400]  # the domain refused the revalidating exchange
        assert again[0], again
