"""The sandbox's OIDC/OAuth endpoints per identity domain, and the JWT → UPST token exchange.

``urls.routes(ctx)`` returns Starlette routes with full per-domain paths (``/{guid}/…``); mount
them before the SCIM routes. Modules: ``tokens`` (minting/verifying), ``discovery`` (discovery +
JWKS), ``authorize`` + ``pages`` (sign-in), ``grants`` (token endpoint), ``exchange`` (UPST),
``endpoints`` (userinfo/introspect/revoke/logout), ``runtime`` (codes, refresh tokens,
revocations), ``urls`` (the route table). This package module imports none of them, so a handler
importing a sibling never loops back through it.
"""
