"""Every text the scheduler shows a user: the ``_`` marker, the message templates and :class:`Reason`.

The scheduler never translates. A refusal or a queue reason is a :class:`Reason`: a stable ``code`` for
programs, the English ``message`` template (marked with :func:`_` so that ``pybabel extract -k _`` finds it)
and the ``params`` that fill it. The service translates at display time, in the reader's locale::

    text = gettext(reason.message).format(**reason.params)

``str(reason)`` gives the English text. All templates live in :data:`MESSAGES`, keyed by code, so a
translator (and a test) sees them in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple


def _(message: str) -> str:
    """Mark *message* as translatable; returns it unchanged.

    The service translates the message id (the English template) and formats it with the reason's
    params when it shows the text, so marking happens here and translating happens there.
    """
    return message


MESSAGES: dict[str, str] = {
    # request shape (shapes.py)
    "not_integer": _("Node and device counts must be whole numbers; got {nodes} node(s) × {count}"),
    "bad_nodes": _("Node count must be between 1 and {max_nodes}; got {nodes}"),
    "unknown_device_type": _("Unknown device type '{device_type}'; use one of {allowed}"),
    "no_device_type": _("Choose a device type to request {count} devices per node"),
    "bad_gpu_count": _("GPU count must be between 0 and 8 per node; got {count}"),
    "bad_npu_count": _("NPU count must be one of {allowed} per node; got {count}"),
    "npu_distributed_needs_8": _(
        "A distributed NPU workload uses 8 NPUs per node; got {count} per node on {nodes} nodes"
    ),
    # request against the cluster (shapes.py)
    "no_nodes_of_type": _("The cluster has no {device_type} nodes"),
    "too_many_nodes": _("{nodes} {device_type} nodes requested but the cluster has {available}"),
    "no_node_can_hold": _(
        "{nodes} node(s) with {count} {device_type} each requested, but only {capable} node(s) of the "
        "cluster can hold {count}"
    ),
    # request against the VC (queue.never_fits)
    "unknown_vc": _("Virtual cluster '{vc}' does not exist"),
    "no_quota": _(
        "VC '{vc}' has no {device_type} quota; mark the workload preemptible to use idle devices"
    ),
    "exceeds_quota": _(
        "This workload needs {needed} {device_type} but VC '{vc}' has a quota of {quota}"
    ),
    "exceeds_user_cap": _(
        "This workload needs {needed} {device_type} but a user of VC '{vc}' may use at most {cap}"
    ),
    # why a workload is still queued (queue.schedule)
    "vc_quota": _(
        "VC '{vc}' has {free} of {quota} {device_type} free, this workload needs {needed}; "
        "{ahead} workloads ahead"
    ),
    "user_cap": _(
        "User '{owner}' uses {used} of the {cap} {device_type} allowed per user in VC '{vc}', this "
        "workload needs {needed}; {ahead} workloads ahead"
    ),
    "quota_held": _(
        "VC '{vc}' keeps its free {device_type} for the older workload {holder}, waiting since "
        "{waited_min} min; {ahead} workloads ahead"
    ),
    "no_fitting_node": _(
        "{free} {device_type} are free, but only {fitting} of the {nodes} node(s) needed have {per_node} "
        "free; {ahead} workloads ahead"
    ),
    "no_fitting_npu_group": _(
        "{free} {device_type} are free, but no node has {per_node} of them inside one group (0-3 or 4-7); "
        "{ahead} workloads ahead"
    ),
    "reserved": _(
        "The devices that would fit are reserved for the older workload {holder}, waiting since "
        "{waited_min} min; {ahead} workloads ahead"
    ),
    "waiting_for_preemption": _(
        "Waiting for {count} preempted or stopping workload(s) to free their devices; "
        "{ahead} workloads ahead"
    ),
    # the estimated start of a queued workload (estimate.estimate_starts)
    "estimate_now": _("it can start as soon as the scheduler runs again"),
    "estimate_time_limits": _(
        "no later than when {ended} running workload(s) have ended (each at its time limit at the "
        "latest), if nothing is submitted ahead of it"
    ),
    "estimate_unlimited": _("unknown: a workload ahead has no time limit"),
    "estimate_never_fits": _("unknown: the request does not fit even when all devices are free"),
    "estimate_too_far": _(
        "unknown: more than {passes} rounds of workloads must end first; the estimate stops there"
    ),
    # what a preempted workload shows
    "preempted": _("Preempted: VC '{vc}' needs its {device_type} back for workload {for_workload}"),
}


class Reason(NamedTuple):
    """A user-visible explanation: ``code`` for programs, ``message`` template + ``params`` for people.

    Immutable (a named tuple: a pass builds one per queued workload, so it stays cheap).
    """

    code: str
    message: str
    params: Mapping[str, Any] = {}

    def __str__(self) -> str:
        return self.message.format(**self.params)

    def with_params(self, **more: Any) -> Reason:
        """The same reason with *more* params added (or replaced)."""
        return Reason(self.code, self.message, {**self.params, **more})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: code, template, params and the English text."""
        return {
            "code": self.code,
            "message": self.message,
            "params": dict(self.params),
            "text": str(self),
        }


def reason(code: str, **params: Any) -> Reason:
    """The :class:`Reason` for *code* (a key of :data:`MESSAGES`) filled with *params*."""
    return Reason(code, MESSAGES[code], params)
