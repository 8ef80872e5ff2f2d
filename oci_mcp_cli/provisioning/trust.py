"""The identity propagation trust (JWT → UPST): one per issuer, created, shared or detached."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from oci_mcp_cli.core.errors import OciMcpError, UserError
from oci_mcp_cli.provisioning.apps import OWNER_TAG, client_exists, owner_of
from oci_mcp_cli.provisioning.plan import Action
from oci_mcp_cli.provisioning.scim import Op, eq_filter, merged, patch_op
from oci_mcp_cli.provisioning.session import DomainSession, create_or_adopt, is_status

if TYPE_CHECKING:
    from oci.identity_domains.models import IdentityPropagationTrust

TRUST_SCHEMA = "urn:ietf:params:scim:schemas:oracle:idcs:IdentityPropagationTrust"
DEFAULT_TRUST_NAME = "oci-mcp token exchange"
CLIENT_CLAIMS = ("client_id", "iss")


def check_client_claim(claim: str) -> None:
    """Reject a ``--client-claim`` other than client_id or iss (exit 2)."""
    if claim not in CLIENT_CLAIMS:
        raise UserError(
            f"unknown --client-claim {claim!r}",
            hint="use client_id (strict, default) or iss (the seed's looser form)",
        )


@dataclass(frozen=True)
class DesiredTrust:
    """The trust oci-mcp wants: strict ``client_id`` claim by default, ``iss`` as the seed did."""

    issuer: str
    jwks_uri: str
    exchange_client_id: str
    login_client_id: str
    client_claim: str = "client_id"
    name: str = DEFAULT_TRUST_NAME
    # the creating project's owner id, tagged on a trust we create (``oci-mcp-owner``): any
    # later teardown — of whichever project is the last to use it — knows oci-mcp created it
    owner: str = ""

    def __post_init__(self) -> None:
        check_client_claim(self.client_claim)

    @property
    def claim_values(self) -> list[str]:
        return [self.login_client_id] if self.client_claim == "client_id" else [self.issuer]

    def body(self) -> IdentityPropagationTrust:
        from oci.identity_domains.models import IdentityPropagationTrust, Tags

        return IdentityPropagationTrust(
            schemas=[TRUST_SCHEMA],
            name=self.name,
            type="JWT",
            issuer=self.issuer,
            active=True,
            public_key_endpoint=self.jwks_uri,
            subject_claim_name="sub",
            subject_mapping_attribute="userName",
            subject_type="User",
            client_claim_name=self.client_claim,
            client_claim_values=self.claim_values,
            allow_impersonation=False,
            oauth_clients=[self.exchange_client_id],
            tags=[Tags(key=OWNER_TAG, value=self.owner)] if self.owner else None,
        )


def made_by_oci_mcp(trust: IdentityPropagationTrust) -> bool:
    """The trust carries an ``oci-mcp-owner`` tag: an oci-mcp project created it."""
    return owner_of(trust) is not None


def list_trusts(
    session: DomainSession, issuer: str | None = None
) -> list[IdentityPropagationTrust]:
    """Trusts of the domain (optionally only the one for ``issuer``), with their tags
    (``returned: request``)."""
    kwargs = {"filter": eq_filter("issuer", issuer)} if issuer else {}
    data = session.call(
        session.client.list_identity_propagation_trusts, attribute_sets=["all"], **kwargs
    )
    trusts = list(data.resources or [])
    return [t for t in trusts if t.issuer == issuer] if issuer else trusts


def find_trust(session: DomainSession, issuer: str) -> IdentityPropagationTrust | None:
    found = list_trusts(session, issuer)
    return found[0] if found else None


def get_trust_or_none(session: DomainSession, trust_id: str) -> IdentityPropagationTrust | None:
    try:
        return session.call(
            session.client.get_identity_propagation_trust, trust_id, attribute_sets=["all"]
        )
    except OciMcpError as exc:
        if is_status(exc, 404):
            return None
        raise


def diff_trust(
    trust: IdentityPropagationTrust, desired: DesiredTrust
) -> tuple[list[Op], list[str]]:
    """What an existing trust for our issuer lacks: our clients, activation, the domain's JWKS
    URL (a missing or wrong one is set to the discovery's ``jwks_uri``)."""
    ops: list[Op] = []
    changes: list[str] = []
    clients = list(trust.oauth_clients or [])
    if desired.exchange_client_id not in clients:
        ops.append(("REPLACE", "oauthClients", merged(clients, [desired.exchange_client_id])))
        changes.append(f"add client {desired.exchange_client_id} to oauthClients")
    values = list(trust.client_claim_values or [])
    if trust.client_claim_name == "client_id" and desired.login_client_id not in values:
        ops.append(("REPLACE", "clientClaimValues", merged(values, [desired.login_client_id])))
        changes.append(f"add {desired.login_client_id} to clientClaimValues")
    if not trust.active:
        ops.append(("REPLACE", "active", True))
        changes.append("activate the trust")
    current = trust.public_key_endpoint

    def norm(url: str) -> str:  # equal up to a trailing slash and an explicit :443 on https
        from urllib.parse import urlsplit

        parts = urlsplit(url.strip())
        netloc = parts.netloc.lower()
        if parts.scheme == "https":
            netloc = netloc.removesuffix(":443")
        return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}?{parts.query}"

    if not current:
        ops.append(("REPLACE", "publicKeyEndpoint", desired.jwks_uri))
        changes.append(f"set publicKeyEndpoint {desired.jwks_uri}")
    elif norm(current) != norm(desired.jwks_uri):  # a wrong JWKS: every exchange would fail
        ops.append(("REPLACE", "publicKeyEndpoint", desired.jwks_uri))
        changes.append(f"publicKeyEndpoint {current} → {desired.jwks_uri}")
    return ops, changes


def _patch(session: DomainSession, trust_id: str, ops: list[Op]) -> IdentityPropagationTrust:
    return session.call(
        session.client.patch_identity_propagation_trust, trust_id, patch_op=patch_op(ops)
    )


@dataclass
class TrustResult:
    action: Action
    trust: IdentityPropagationTrust
    created: bool
    changes: list[str]


def ensure_trust(session: DomainSession, desired: DesiredTrust) -> TrustResult:
    """Create the trust, or add our clients to the one that already holds the issuer."""
    found = find_trust(session, desired.issuer)
    if found is not None:
        trust = found
    else:
        trust, created = create_or_adopt(
            lambda: session.call(
                session.client.create_identity_propagation_trust,
                identity_propagation_trust=desired.body(),
            ),
            lambda: find_trust(session, desired.issuer),  # 409: the issuer already has a trust
        )
        if created:
            return TrustResult(Action.CREATED, trust, True, [f"create trust for {desired.issuer}"])
    ops, changes = diff_trust(trust, desired)
    if not ops:
        return TrustResult(Action.UNCHANGED, trust, False, [])
    trust = _patch(session, trust.id, ops)
    return TrustResult(Action.UPDATED, trust, False, changes)


def detach_plan(
    trust: IdentityPropagationTrust,
    exchange_client_id: str | None,
    login_client_id: str | None,
    created_by_us: bool,
    gone: frozenset[str] = frozenset(),
    owner: str = "",
) -> tuple[Action, list[Op], str]:
    """How to remove our clients from ``trust``: delete it (only if oci-mcp created it — this
    project per ``.env``, or any project per its tag — and no other existing client is on it),
    patch out our ids (and, on an oci-mcp trust, the ``gone`` ids: clients that no longer exist),
    or leave it in place (a trust we did not create is never emptied). A shared trust that
    ``.env`` says we created but that carries no tag (made before trusts were tagged) gets
    ``owner``'s tag, so the last project to use it deletes it."""
    created = created_by_us or made_by_oci_mcp(trust)
    stale = gone if created else frozenset()
    clients = list(trust.oauth_clients or [])
    others = [c for c in clients if c != exchange_client_id and c not in stale]
    if exchange_client_id not in clients:
        return Action.UNCHANGED, [], "our client is not on this trust"
    if created and not others:
        return Action.DELETED, [], "oci-mcp created it and no other existing client uses it"
    if not others:
        return (
            Action.SKIPPED,
            [],
            "left in place: not created by oci-mcp, and our client is its only one "
            "(removing it would leave the trust with no client)",
        )
    ops: list[Op] = [("REPLACE", "oauthClients", others)]
    values = list(trust.client_claim_values or [])
    rest = [v for v in values if v != login_client_id and v not in stale]
    if trust.client_claim_name == "client_id" and rest != values and rest:
        ops.append(("REPLACE", "clientClaimValues", rest))
    if created_by_us and owner and not made_by_oci_mcp(trust):
        tags = [{"key": str(t.key), "value": str(t.value)} for t in trust.tags or []]
        ops.append(("REPLACE", "tags", [*tags, {"key": OWNER_TAG, "value": owner}]))
    dropped = sorted(stale & {*clients, *values})
    also = f", and {len(dropped)} that no longer exist" if dropped else ""
    return (
        Action.UPDATED,
        ops,
        f"shared with {len(others)} other client(s): only our client id is removed{also}",
    )


def gone_clients(
    session: DomainSession,
    trust: IdentityPropagationTrust,
    ours: set[str | None],
    created_by_us: bool,
) -> frozenset[str]:
    """The client ids on a trust oci-mcp created (other than ``ours``) whose app no longer
    exists; empty for a trust we did not create (its other entries are not ours to judge)."""
    if not (created_by_us or made_by_oci_mcp(trust)):
        return frozenset()
    ids = set(trust.oauth_clients or [])
    if trust.client_claim_name == "client_id":
        ids |= set(trust.client_claim_values or [])
    return frozenset(c for c in ids - ours if c and not client_exists(session, c))


def detach_trust(
    session: DomainSession,
    trust_id: str,
    exchange_client_id: str | None,
    login_client_id: str | None,
    created_by_us: bool,
    owner: str = "",
) -> Action:
    """Apply :func:`detach_plan` to the current state of the trust."""
    trust = get_trust_or_none(session, trust_id)
    if trust is None:
        return Action.UNCHANGED
    ours = {exchange_client_id, login_client_id}
    gone = gone_clients(session, trust, ours, created_by_us)
    action, ops, _ = detach_plan(
        trust, exchange_client_id, login_client_id, created_by_us, gone, owner
    )
    if action == Action.DELETED:
        session.call(session.client.delete_identity_propagation_trust, trust_id, force_delete=True)
    elif ops:
        _patch(session, trust_id, ops)
    return action


def plan_ensure(
    existing: IdentityPropagationTrust | None, desired: DesiredTrust
) -> tuple[Action, str, list[str]]:
    """Plan-time view of :func:`ensure_trust` given :func:`find_trust`'s answer: (action, reason,
    changes)."""
    if existing is None:
        return (
            Action.CREATED,
            f"no trust for issuer {desired.issuer} yet; without it tools cannot call OCI "
            "as the signed-in user (token exchange to UPST)",
            [],
        )
    ops, changes = diff_trust(existing, desired)
    if not ops:
        return Action.UNCHANGED, f"trust {existing.id} already lets our client exchange tokens", []
    return (
        Action.UPDATED,
        f"a trust for {desired.issuer} exists ({existing.name}); reuse it",
        changes,
    )


def created_by_us(
    result: TrustResult, recorded_id: str | None, recorded_created: str | None, owner: str = ""
) -> bool:
    """Whether this project created the trust: now, in the run that recorded it in ``.env``, or
    in a run that was killed before recording it (the trust carries our owner tag)."""
    if result.created or (owner and owner_of(result.trust) == owner):
        return True
    return recorded_id == result.trust.id and recorded_created == "true"


def plan_detach(
    session: DomainSession,
    trust_id: str | None,
    exchange_client_id: str | None,
    login_client_id: str | None,
    created: bool,
) -> tuple[Action, str]:
    """Plan-time view of :func:`detach_trust`: (action, reason). Reads only."""
    if not trust_id:
        return Action.SKIPPED, "no trust recorded in .env"
    current = get_trust_or_none(session, trust_id)
    if current is None:
        return Action.UNCHANGED, f"trust {trust_id} no longer exists"
    gone = gone_clients(session, current, {exchange_client_id, login_client_id}, created)
    action, _, why = detach_plan(current, exchange_client_id, login_client_id, created, gone)
    return action, why
