"""Resource Search (``oci.resource_search``): structured queries over the resources a principal
may read, moto-like: ``models`` (query rules and visibility), ``responses``, ``urls``."""
