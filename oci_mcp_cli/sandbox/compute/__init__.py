"""Compute and Virtual Network reads (``oci.core``: instances, VCNs, subnets), moto-like:
``models`` (visibility over the seeded state), ``responses`` (call → rules → wire), ``urls``
(the SDK operations served)."""
