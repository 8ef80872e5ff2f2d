"""Issue 9 §1 (signer half): cached signers are revalidated with the identity domain.

Real server (in-process), real SDK, sandbox over real HTTP. Revalidation re-runs the token
exchange for the same upstream token, so the domain checks the user, the client app and the
trust again; a refusal drops the signer and fails the call, an outage fails it (fail closed) or
keeps the signer (``revalidation_outage="open"``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
from oauth_flow import admin_domains_client, patch
from serve_support import ServerStack, server_stack, signed_in

from oci_mcp_cli.client.session import call_tool

pytestmark = pytest.mark.e2e
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
REFUSED = "no longer accepted"


class Stack(ServerStack):
    def idc(self) -> Any:
        return admin_domains_client(self.sb, self.settings.domain_url)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with server_stack(tmp_path_factory.mktemp("revalidation"), cls=Stack, start=False,
                      revalidate_after=0) as st:
        yield st


def run(st: Stack, user: str, cache: str, script: Any) -> Any:
    async def main() -> Any:
        async with signed_in(st, user, cache) as client:

            async def call(tool: str = "whoami") -> tuple[bool, Any]:
                return await call_tool(client, tool, {})

            return await script(call)

    return anyio.run(main)


def _trust(st: Stack) -> Any:
    idc = st.idc()
    trusts = idc.list_identity_propagation_trusts().data.resources
    return next(t for t in trusts if st.settings.exchange_client_id in (t.oauth_clients or []))


def _set_trust_active(st: Stack, active: bool) -> None:
    idc = st.idc()
    patch(
        lambda rid, patch_op: idc.patch_identity_propagation_trust(rid, patch_op=patch_op),
        _trust(st).id,
        "active",
        active,
    )


def _set_app_active(st: Stack, client_id: str, active: bool) -> None:
    """AppStatusChanger, as the console's activate/deactivate does."""
    from oci.identity_domains.models import AppStatusChanger

    idc = st.idc()
    app = next(a for a in idc.list_apps(filter=f'name eq "{client_id}"').data.resources)
    body = AppStatusChanger(
        schemas=["urn:ietf:params:scim:schemas:oracle:idcs:AppStatusChanger"], active=active
    )
    idc.put_app_status_changer(app.id, app_status_changer=body)


def _set_user_active(st: Stack, username: str, active: bool) -> None:
    idc = st.idc()
    user = idc.list_users(filter=f'userName eq "{username}"').data.resources[0]
    patch(lambda rid, patch_op: idc.patch_user(rid, patch_op=patch_op), user.id, "active", active)


def test_zero_revalidates_on_every_call(stack: Stack) -> None:
    stack.restart(revalidate_after=0)

    async def script(call: Any) -> None:
        assert (await call())[0]
        stack.sb.clear_requests()
        for _ in range(3):
            assert (await call())[0]
        assert stack.exchanges() == 3  # one re-exchange per call, same signer

    run(stack, "alice", "every-call", script)


def test_within_the_period_a_cached_signer_is_not_rechecked(stack: Stack) -> None:
    """The bound of revalidation: with 300 s, a trust removed after the first call does not
    affect calls within the period (what `--revalidate-after` trades for speed)."""
    stack.restart(revalidate_after=300)

    async def script(call: Any) -> None:
        assert (await call())[0]
        stack.sb.clear_requests()
        _set_trust_active(stack, False)
        try:
            assert (await call())[0]
            assert stack.exchanges() == 0
        finally:
            _set_trust_active(stack, True)

    run(stack, "alice", "within-period", script)


@pytest.mark.parametrize("condition", ["trust", "app", "user"])
def test_refused_revalidation_drops_the_signer_and_fails_clearly(
    stack: Stack, condition: str
) -> None:
    """Trust deactivated, token-exchange app deactivated, user deactivated: the next call's
    revalidation is refused → a clear tool error; once fixed, a new exchange makes it work."""
    stack.restart(revalidate_after=0)
    user = "bob"
    toggles = {
        "trust": lambda active: _set_trust_active(stack, active),
        "app": lambda active: _set_app_active(stack, stack.settings.exchange_client_id, active),
        "user": lambda active: _set_user_active(stack, user, active),
    }
    toggle = toggles[condition]

    async def script(call: Any) -> list[tuple[bool, Any]]:
        first = await call()
        toggle(False)
        try:
            refused = await call()
            again = await call("get_namespace")
        finally:
            toggle(True)
        return [first, refused, again]

    first, refused, again = run(stack, user, f"refused-{condition}", script)
    assert first[0], first
    assert not refused[0] and REFUSED in refused[1], refused
    assert "Sign in again" in refused[1]
    if condition == "trust":
        assert "oci-mcp trust create" in refused[1]
    assert not again[0]  # the signer was dropped: a new exchange, refused as well
    if condition == "user":
        return  # a deactivated user's upstream token stays dead (the domain checks it)
    ok = run(stack, user, f"refused-{condition}", lambda call: call())
    assert ok[0], ok


def test_domain_outage_during_revalidation_fails_closed_by_default(stack: Stack) -> None:
    stack.restart(revalidate_after=0)

    async def script(call: Any) -> list[tuple[bool, Any]]:
        first = await call()
        stack.sb.fault("POST", "/oauth2/v1/token", 503, count=2)  # outlasts the one retry
        during = await call()
        after = await call()
        return [first, during, after]

    first, during, after = run(stack, "alice", "outage-closed", script)
    assert first[0] and after[0]
    assert not during[0]
    assert "could not confirm" in during[1] and "fail closed" in during[1], during[1]


def test_fail_open_policy_keeps_the_signer_through_an_outage(stack: Stack) -> None:
    stack.restart(revalidate_after=0, revalidation_outage="open")

    async def script(call: Any) -> list[tuple[bool, Any]]:
        first = await call()
        stack.sb.fault("POST", "/oauth2/v1/token", 503, count=2)  # outlasts the one retry
        during = await call()
        return [first, during]

    first, during = run(stack, "alice", "outage-open", script)
    assert first[0] and during[0], during
    httpx.delete(stack.sb.url + "/_sandbox/faults", timeout=10)
