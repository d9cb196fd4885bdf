"""REST handlers under ``/services/ytung/api/v1/``: one module per resource, each ending in
its ``default_handlers`` route table (paths relative to the service prefix)."""

from . import devices, me, openapi, users, vcs, workloads

default_handlers = [
    *me.default_handlers,
    *users.default_handlers,
    *vcs.default_handlers,
    *devices.default_handlers,
    *workloads.default_handlers,
]
default_handlers += openapi.default_handlers
