"""The SCIM admin API of a sandbox identity domain (``/<guid>/admin/v1/...``)."""
