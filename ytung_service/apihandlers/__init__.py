"""REST handlers under ``/services/ytung/api/v1/``: one module per resource, each ending in
its ``default_handlers`` route table (paths relative to the service prefix)."""

from . import (
    annotations,
    datasets,
    devenvs,
    devices,
    images,
    jobs,
    me,
    openapi,
    users,
    vcs,
    workloads,
)

default_handlers = [
    *me.default_handlers,
    *users.default_handlers,
    *vcs.default_handlers,
    *devices.default_handlers,
    *workloads.default_handlers,
    *devenvs.default_handlers,
    *images.default_handlers,
    *datasets.default_handlers,
]
default_handlers += annotations.default_handlers
default_handlers += jobs.default_handlers
default_handlers += openapi.default_handlers
