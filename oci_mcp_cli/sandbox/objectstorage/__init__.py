"""Object Storage at the root (``GET /n``, ``GET /n/{ns}/b``), moto-like: ``models`` (rules),
``responses`` (request → rules → OCI wire JSON), ``urls`` (the route table)."""
