"""Runtimes: where workloads run and what devices they can get (DESIGN "Runtimes", SPEC V1).

Each runtime has a device inventory with one method, ``await inventory.nodes()``, giving the
:class:`~ytung_service.scheduling.Node` objects the scheduler places workloads on::

    from ytung_service.runtimes import make_inventory

    inventory = make_inventory("local")          # YTUNG_SIMULATED_DEVICES, else nvidia-smi / npu-smi
    inventory = make_inventory("kubernetes")     # the cluster's Node objects
    nodes = await inventory.nodes()

Modules: :mod:`.inventory` (:class:`Inventory`, :class:`InventoryError`), :mod:`.local` (simulated
syntax, ``nvidia-smi``/``npu-smi`` detection, :class:`~.local.LocalInventory`), :mod:`.kubernetes`
(pure :func:`~.kubernetes.nodes_from_k8s`, :class:`~.kubernetes.KubernetesInventory`). Importing this
package does not import the Kubernetes client (:class:`~.kubernetes.KubernetesInventory` does,
when it first lists nodes).
"""

from __future__ import annotations

from typing import Any

from ytung_service.i18n import N_

from .inventory import Inventory, InventoryError
from .kubernetes import KubernetesInventory, nodes_from_k8s
from .local import LocalInventory, detect_ascend, detect_nvidia, parse_simulated

RUNTIMES = ("local", "kubernetes")


def make_inventory(runtime: str, **kw: Any) -> Inventory:
    """The device inventory of *runtime* (``local`` or ``kubernetes``); *kw* go to its constructor.

    ``local``: :class:`~.local.LocalInventory` (``simulated=``, ``refresh_interval=``, …);
    ``kubernetes``: :class:`~.kubernetes.KubernetesInventory` (``api_client_factory=``).
    """
    if runtime == "local":
        return LocalInventory(**kw)
    if runtime == "kubernetes":
        return KubernetesInventory(**kw)
    raise InventoryError(
        N_("Unknown runtime '{runtime}'; use one of {allowed}"),
        runtime=runtime,
        allowed=", ".join(RUNTIMES),
    )


__all__ = [
    "RUNTIMES",
    "Inventory",
    "InventoryError",
    "KubernetesInventory",
    "LocalInventory",
    "detect_ascend",
    "detect_nvidia",
    "make_inventory",
    "nodes_from_k8s",
    "parse_simulated",
]
