"""Pure scheduling core: device shapes, VC quotas and the queue (SPEC V3, V7–V9, X1–X3).

No I/O, no database, no clock: the service passes the state and the time in and applies the decision::

    from ytung_service.scheduling import (
        NVIDIA_GPU, Allocation, ClusterState, Node, VirtualCluster, Workload, never_fits, schedule,
    )

    nodes = [Node("gpu-1", NVIDIA_GPU, tuple(range(8)))]
    vcs = [VirtualCluster("vision", quota={NVIDIA_GPU: 8}, user_max={NVIDIA_GPU: 4})]
    job = Workload("job-1", owner="ada", vc="vision", device_type=NVIDIA_GPU, devices_per_node=2,
                   submit_time=100.0)
    assert never_fits(job, nodes, vcs[0]) is None          # else: answer 400 with str(reason)
    decision = schedule(ClusterState(nodes, vcs, allocations=[], queue=[job]), now=160.0)
    decision.admitted   # [Admit("job-1", {"gpu-1": (0, 1)})] → record an Allocation, start the server
    decision.queued     # [Queue(id, position, ahead, reason)]; gettext(reason.message).format(**reason.params)
    decision.preempted  # [Preempt(victims, for_workload, reason)] → stop victims, mark them stopping

Modules: :mod:`.devices` (types, nodes, NPU rings), :mod:`.shapes` (legal counts and per-node id sets),
:mod:`.quota` (VCs, allocations, usage sums, time limits), :mod:`.placement` (free-device index, best fit),
:mod:`.queue` (order, :func:`schedule`, :func:`never_fits`), :mod:`.estimate` (the "no later than"
start of queued workloads), :mod:`.messages` (``_`` and :class:`Reason`).
"""

from .devices import (
    ARCH,
    DEVICE_TYPES,
    HUAWEI_NPU,
    MAX_PER_NODE,
    NVIDIA_GPU,
    Node,
    capacity,
    is_device_type,
    ring_of,
)
from .estimate import Estimate, end_bound, estimate_starts, fingerprint
from .messages import MESSAGES, Reason, reason
from .placement import FreeIndex
from .queue import (
    Admit,
    ClusterState,
    Decision,
    Policy,
    Preempt,
    Queue,
    Reservation,
    Workload,
    never_fits,
    order_key,
    preview,
    schedule,
)
from .quota import Allocation, Usage, VirtualCluster, overdue, time_left, unassigned
from .shapes import (
    ALLOWED_COUNTS,
    InvalidRequest,
    cluster_problem,
    is_cpu_only,
    legal_devices,
    legal_placement,
    pick,
    request_problem,
    validate_request,
)

__all__ = [
    "ALLOWED_COUNTS",
    "ARCH",
    "DEVICE_TYPES",
    "HUAWEI_NPU",
    "MAX_PER_NODE",
    "MESSAGES",
    "NVIDIA_GPU",
    "Admit",
    "Allocation",
    "ClusterState",
    "Decision",
    "Estimate",
    "FreeIndex",
    "InvalidRequest",
    "Node",
    "Policy",
    "Preempt",
    "Queue",
    "Reason",
    "Reservation",
    "Usage",
    "VirtualCluster",
    "Workload",
    "capacity",
    "cluster_problem",
    "end_bound",
    "estimate_starts",
    "fingerprint",
    "is_cpu_only",
    "is_device_type",
    "legal_devices",
    "legal_placement",
    "never_fits",
    "order_key",
    "overdue",
    "pick",
    "preview",
    "reason",
    "request_problem",
    "ring_of",
    "schedule",
    "time_left",
    "unassigned",
    "validate_request",
]
