"""The IAM control plane under ``/20160918`` (what ``oci.identity.IdentityClient`` calls),
moto-like: ``models`` (visibility rules over the state), ``responses`` (request → rules → OCI
wire JSON), ``urls`` (the route table)."""
