"""`oci-mcp deploy`: render what a platform team applies — a Containerfile, Kubernetes manifests
or a compose file — from the ``.env`` that ``init`` wrote, without a secret value in any of them.

``options`` validates the flags and the ``.env`` (the rules a deployment must keep), ``render``
fills the templates under ``templates/deploy/``, ``service`` writes the files and says what to run
next, and ``entrypoint`` is the container's entrypoint (environment → ``.env`` → ``serve``).
"""
