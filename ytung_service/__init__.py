"""Ytung platform service: the one authority for VCs, quotas, queues and workloads.

Kept light on purpose: importing ``ytung_service`` must not pull in tornado apps, SQLAlchemy
models or Kubernetes clients (the hub and every workload import ``ytung_service.client``).
"""

__version__ = "0.1.0"
