"""Admin credentials and OCI client construction: the one path every OCI client goes through.

Credentials come from a standard OCI config file/profile (API key or session token) or from
instance/resource principals. A profile may carry one extra key, ``oci_mcp_endpoint``: the base
URL that serves every OCI API (the sandbox writes it). When present, regional clients
(IdentityClient, ObjectStorageClient, …) use it as their ``service_endpoint``. There is no other
sandbox-specific code path.

Heavy imports (``oci``) stay inside functions so ``oci-mcp --help`` is instant.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from oci_mcp_cli.core.errors import RemoteError, UserError
from oci_mcp_cli.core.urls import require_secure_url

ENDPOINT_KEY = "oci_mcp_endpoint"
DEFAULT_CONFIG_FILE = "~/.oci/config"
DEFAULT_PROFILE = "DEFAULT"
AuthMode = Literal["config", "instance_principal", "resource_principal"]
AUTH_MODES: tuple[str, ...] = ("config", "instance_principal", "resource_principal")

C = TypeVar("C")

API_KEY_SIGNERS_KEPT = 16  # per process: one per profile and key file in use


@dataclass
class OciAuth:
    """Resolved admin credentials: an SDK config dict, an optional signer, an endpoint override."""

    config: dict[str, Any]
    signer: Any | None = None
    service_endpoint: str | None = None
    config_file: str | None = None
    profile: str | None = None
    mode: str = "api_key"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tenancy_id(self) -> str:
        return str(self.config.get("tenancy") or getattr(self.signer, "tenancy_id", "") or "")

    @property
    def region(self) -> str | None:
        return self.config.get("region") or getattr(self.signer, "region", None)


def resolve_config_location(config_file: str | None, profile: str | None) -> tuple[str, str]:
    """Flag, then OCI_CLI_CONFIG_FILE / OCI_CLI_PROFILE, then the SDK defaults."""
    file = config_file or os.environ.get("OCI_CLI_CONFIG_FILE") or DEFAULT_CONFIG_FILE
    prof = profile or os.environ.get("OCI_CLI_PROFILE") or DEFAULT_PROFILE
    return str(Path(file).expanduser()), prof


def load_oci_auth(
    config_file: str | None = None,
    profile: str | None = None,
    auth: str = "config",
) -> OciAuth:
    """Load admin credentials; every failure is a UserError with the cause and the fix."""
    import oci

    if auth not in AUTH_MODES:
        raise UserError(f"unknown --auth {auth!r}", hint=f"use one of: {', '.join(AUTH_MODES)}")
    if auth == "instance_principal":
        try:
            signer = oci.auth.signers.InstancePrincipalsSecurityTokenSigner()
        except Exception as exc:  # the SDK raises many types when not on an OCI instance
            raise UserError(
                f"instance principal authentication failed: {exc}",
                hint="run this inside an OCI compute instance with a dynamic group policy, "
                "or use --config-file/--profile",
            ) from exc
        return OciAuth(
            config={"region": signer.region, "tenancy": signer.tenancy_id},
            signer=signer,
            mode="instance_principal",
        )
    if auth == "resource_principal":
        try:
            signer = oci.auth.signers.get_resource_principals_signer()
        except Exception as exc:
            raise UserError(
                f"resource principal authentication failed: {exc}",
                hint="run this inside an OCI function/job with OCI_RESOURCE_PRINCIPAL_* set",
            ) from exc
        return OciAuth(
            config={"region": signer.region, "tenancy": signer.tenancy_id},
            signer=signer,
            mode="resource_principal",
        )

    file, prof = resolve_config_location(config_file, profile)
    if not Path(file).exists():
        raise UserError(
            f"OCI config file {file} not found",
            hint="pass --config-file, set OCI_CLI_CONFIG_FILE, or run `oci setup config`",
        )
    try:
        config = oci.config.from_file(file_location=file, profile_name=prof)
    except oci.exceptions.ProfileNotFound as exc:
        raise UserError(
            f"profile {prof!r} not found in {file}",
            hint="pass --profile with a profile name from that file",
        ) from exc
    except oci.exceptions.InvalidConfig as exc:
        raise UserError(f"OCI config {file} [{prof}] is invalid: {exc}") from exc
    except Exception as exc:
        raise UserError(f"cannot read OCI config {file} [{prof}]: {exc}") from exc

    endpoint = config.get(ENDPOINT_KEY)
    if endpoint:
        require_secure_url(endpoint, what=f"{ENDPOINT_KEY} in [{prof}]")
        endpoint = endpoint.rstrip("/")

    signer = None
    mode = "api_key"
    if config.get("security_token_file"):
        signer = _security_token_signer(config, file, prof)
        mode = "security_token"
    else:
        signer = _api_key_signer(config, file, prof)
    return OciAuth(
        config=config,
        signer=signer,
        service_endpoint=endpoint,
        config_file=file,
        profile=prof,
        mode=mode,
    )


def _api_key_signer(config: dict[str, Any], file: str, prof: str) -> Any:
    """The profile's API-key signer (its key file checked), built once and shared by every
    client of this ``OciAuth``: each SDK client would otherwise load and check the key again
    (~60 ms of CPU each). None when the profile names an ``authentication_type`` (the SDK builds
    that signer itself)."""
    import oci

    try:
        oci.config.validate_config(config)
    except oci.exceptions.InvalidConfig as exc:
        raise UserError(f"OCI config {file} [{prof}] is invalid: {exc}") from exc
    if config.get("authentication_type"):
        return None
    what = "key_content"
    if not config.get("key_content"):
        key_file = Path(str(config.get("key_file", ""))).expanduser()
        if not key_file.is_file():
            raise UserError(
                f"key_file {key_file} of profile [{prof}] does not exist",
                hint="fix key_file in the OCI config or re-run `oci setup config`",
            )
        what = f"key_file {key_file}"
    identity = _api_key_identity(config)
    with _api_key_signers_lock:
        signer = _api_key_signers.get(identity) if identity else None
        if signer is not None:
            _api_key_signers.move_to_end(identity)
            return signer
    try:
        signer = oci.signer.Signer.from_config(config)
    except Exception as exc:
        raise UserError(
            f"{what} of profile [{prof}] is not a usable private key: {exc}",
            hint="point key_file at the API key's PEM private key (set pass_phrase if it has one)",
        ) from exc
    if identity:
        with _api_key_signers_lock:
            _api_key_signers[identity] = signer
            while len(_api_key_signers) > API_KEY_SIGNERS_KEPT:
                _api_key_signers.popitem(last=False)
    return signer


# API-key signers already built in this process (LRU): a process that runs several commands or
# profiles (the demo, `init` then `doctor`, a test run) loads and checks each key file once
# (~60 ms of CPU each time) until the file or the profile's key settings change.
_api_key_signers: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_api_key_signers_lock = threading.Lock()


def _api_key_identity(config: dict[str, Any]) -> tuple[Any, ...]:
    """What an API-key signer is built from: the profile's ids, its key (the file's identity and
    version, or a digest of inline content) and a digest of its pass phrase. Empty (not kept)
    when the key file cannot be looked at: the SDK's loader then reports why."""
    def digest(value: Any) -> str | None:
        return None if value is None else hashlib.sha256(str(value).encode()).hexdigest()

    key: tuple[Any, ...]
    if config.get("key_content"):
        key = ("content", digest(config["key_content"]))
    else:
        path = Path(str(config.get("key_file", ""))).expanduser().resolve()
        try:
            st = path.stat()
        except OSError:
            return ()
        key = ("file", str(path), st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
    return (config.get("tenancy"), config.get("user"), config.get("fingerprint"), key,
            digest(config.get("pass_phrase")))


def _security_token_signer(config: dict[str, Any], file: str, prof: str) -> Any:
    import oci

    token_path = Path(str(config["security_token_file"])).expanduser()
    key_path = Path(str(config.get("key_file", ""))).expanduser()
    try:
        token = token_path.read_text(encoding="utf-8").strip()
        key = oci.signer.load_private_key_from_file(str(key_path), config.get("pass_phrase"))
    except Exception as exc:
        raise UserError(
            f"session-token profile [{prof}] in {file} is unusable: {exc}",
            hint="run `oci session authenticate` (or `oci session refresh`) for this profile",
        ) from exc
    return oci.auth.signers.SecurityTokenSigner(token, key)


def retry_strategy() -> Any:
    """Retries for 429/5xx and connection errors with short exponential backoff.

    ``OCI_MCP_RETRY_BASE_SECONDS`` tunes the first wait (tests use a small value).
    """
    import oci

    base = float(os.environ.get("OCI_MCP_RETRY_BASE_SECONDS", "1"))
    return oci.retry.RetryStrategyBuilder(
        max_attempts=5,
        total_elapsed_time_seconds=120,
        retry_base_sleep_time_seconds=base,
        retry_max_wait_between_calls_seconds=max(base * 8, 1),
        service_error_retry_on_any_5xx=True,
    ).get_retry_strategy()


class DeadlineExceeded(TimeoutError):
    """A call's overall deadline passed (no further attempt or wait was started)."""


USER_MAX_ATTEMPTS = 3
USER_TIMEOUT = (10.0, 60.0)  # connect, read seconds of one attempt, before the deadline caps them


class DeadlineRetryStrategy:
    """The one retry layer of per-user calls: at most ``max_attempts`` attempts (429/5xx,
    timeouts, connection errors; full-jitter backoff), none started after the deadline.

    ``remaining()`` returns the seconds left of the caller's deadline (None: no deadline). Each
    attempt's ``(connect, read)`` timeout is capped by it, so a call ends by its deadline
    instead of at ``attempts × read timeout``. An open circuit breaker is never retried; when it
    opened during this call's retries, the call fails with the last answer it got, not with a
    "not attempted" refusal.
    """

    def __init__(
        self,
        remaining: Any,
        *,
        max_attempts: int = USER_MAX_ATTEMPTS,
        base_sleep_s: float | None = None,
        timeout: tuple[float, float] = USER_TIMEOUT,
    ) -> None:
        self.remaining = remaining
        self.max_attempts = max(1, max_attempts)
        self.base_sleep_s = (
            float(os.environ.get("OCI_MCP_RETRY_BASE_SECONDS", "1"))
            if base_sleep_s is None
            else base_sleep_s
        )
        self.timeout = timeout

    def add_circuit_breaker_callback(self, callback: Any) -> None:  # SDK protocol; unused
        pass

    def _left(self) -> float | None:
        left = self.remaining()
        if left is not None and left <= 0:
            raise DeadlineExceeded("the tool call's deadline passed before the next attempt")
        return left

    def make_retrying_call(self, func_ref: Any, *args: Any, **kwargs: Any) -> Any:
        import random
        import time

        from circuitbreaker import CircuitBreakerError
        from oci.retry.retry_checkers import TimeoutConnectionAndServiceErrorRetryChecker

        checker = TimeoutConnectionAndServiceErrorRetryChecker(retry_any_5xx=True)
        client = getattr(func_ref, "__self__", None)
        body = kwargs.get("body")
        rewindable = body is None or not hasattr(body, "read")
        attempt = 0
        last: Exception | None = None
        while True:
            left = self._left()
            if client is not None and hasattr(client, "timeout"):
                client.timeout = (
                    self.timeout
                    if left is None
                    else (min(self.timeout[0], left), min(self.timeout[1], left))
                )
            try:
                return func_ref(*args, **kwargs)
            except CircuitBreakerError:
                if last is not None:
                    raise last from None
                raise
            except Exception as exc:
                attempt += 1
                last = exc
                if (
                    attempt >= self.max_attempts
                    or not rewindable
                    or not checker.should_retry(exception=exc)
                ):
                    raise
                cap = min(self.base_sleep_s * 2**attempt, 8 * self.base_sleep_s)
                pause = random.uniform(0, cap)
                left = self.remaining()
                if left is not None and pause >= left:
                    raise
                time.sleep(pause)


def _client_kwargs(
    auth: OciAuth,
    signer: Any | None,
    *,
    retry: Any | None = None,
    breaker: Any | None = None,
) -> dict[str, Any]:
    import oci

    kwargs: dict[str, Any] = {
        "retry_strategy": retry if retry is not None else retry_strategy(),
        "circuit_breaker_strategy": (
            breaker if breaker is not None else oci.circuit_breaker.NoCircuitBreakerStrategy()
        ),
        "timeout": (10, 60),
    }
    chosen = signer or auth.signer
    if chosen is not None:
        kwargs["signer"] = chosen
    return kwargs


def oci_client(
    client_cls: type[C],
    auth: OciAuth,
    *,
    region: str | None = None,
    signer: Any | None = None,
    retry: Any | None = None,
    breaker: Any | None = None,
) -> C:
    """Build a regional OCI client (IdentityClient, ObjectStorageClient, …) for ``auth``.

    ``signer`` overrides the admin signer (e.g. a per-user TokenExchangeSigner); ``retry`` and
    ``breaker`` replace the admin defaults (:func:`retry_strategy`, no circuit breaker), e.g.
    with a :class:`DeadlineRetryStrategy` and the server's per-operation breakers
    (``server/breakers.py``).
    """
    config = dict(auth.config)
    if region:
        config["region"] = region
    kwargs = _client_kwargs(auth, signer, retry=retry, breaker=breaker)
    if auth.service_endpoint:
        kwargs["service_endpoint"] = auth.service_endpoint
    if signer is not None or auth.signer is not None:
        config.setdefault("tenancy", auth.tenancy_id)
    return client_cls(config, **kwargs)  # type: ignore[call-arg]


def identity_domains_client(auth: OciAuth, domain_url: str) -> Any:
    """An IdentityDomainsClient for one domain URL (the SCIM admin API)."""
    from oci.identity_domains import IdentityDomainsClient

    return IdentityDomainsClient(auth.config, domain_url, **_client_kwargs(auth, None))


def service_error_detail(exc: Any) -> str:
    """The useful text of an ``oci.exceptions.ServiceError``: SCIM ``detail`` or OCI message."""
    data = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    return str(data.get("detail") or getattr(exc, "message", None) or data.get("message") or exc)


def to_remote_error(exc: Exception, operation: str) -> RemoteError | UserError:
    """Turn an SDK/transport exception into a clear error: which call, why, how to fix."""
    import oci

    try:
        import requests
    except ImportError:  # the SDK vendors its own copy of requests
        from oci._vendor import requests  # type: ignore[no-redef, unused-ignore]

    if isinstance(exc, oci.exceptions.ServiceError):
        detail = service_error_detail(exc)
        hint = None
        if exc.status in (401, 403):
            hint = (
                "the admin user needs the Identity Domain Administrator role "
                "(or Application Administrator + Security Administrator) in this domain"
            )
        return RemoteError(
            f"{operation} failed: HTTP {exc.status}: {detail}",
            hint=hint,
            request_id=getattr(exc, "request_id", None),
            status=exc.status,
        )
    if isinstance(exc, oci.exceptions.RequestException | requests.exceptions.ConnectionError):
        return UserError(
            f"{operation} failed: cannot reach the endpoint ({exc.__class__.__name__})",
            hint="check the URL / network, or that the sandbox is running",
        )
    return RemoteError(f"{operation} failed: {exc}")
