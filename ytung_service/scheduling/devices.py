"""The device inventory: device types, their architectures, NPU groups (rings) and :class:`Node`.

A node carries devices of one type, numbered ``0..n-1`` (a simulated inventory may have fewer than 8).
On an NPU node devices 0–3 form one group (ring 0) and 4–7 another (ring 1); allocations below 8 NPUs
stay inside one ring (V8). Unhealthy devices exist but are never allocated.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

NVIDIA_GPU = "nvidia_gpu_amd64"
HUAWEI_NPU = "huawei_npu_arm64"
DEVICE_TYPES: tuple[str, ...] = (NVIDIA_GPU, HUAWEI_NPU)
ARCH: dict[str, str] = {NVIDIA_GPU: "amd64", HUAWEI_NPU: "arm64"}

MAX_PER_NODE = 8
"""Most devices one workload may ask for on one node (V7), and most devices an NPU node has."""
NPU_RING_SIZE = 4
"""Devices per NPU group: ids 0–3 are ring 0, ids 4–7 ring 1."""


def is_device_type(device_type: str | None) -> bool:
    """True for a known accelerator type; ``None`` and ``""`` mean CPU-only."""
    return device_type in DEVICE_TYPES


def ring_of(device_id: int) -> int:
    """The NPU group (0 or 1) that *device_id* belongs to."""
    return device_id // NPU_RING_SIZE


@dataclass(frozen=True)
class Node:
    """A worker node: its name, device type, device ids, CPU architecture and unhealthy devices.

    ``devices`` is normalised to a sorted tuple; ``arch`` defaults to the type's architecture.
    """

    name: str
    device_type: str
    devices: tuple[int, ...]
    arch: str = ""
    unhealthy: frozenset[int] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not is_device_type(self.device_type):
            raise ValueError(f"node {self.name!r}: unknown device type {self.device_type!r}")
        devices = tuple(sorted(set(self.devices)))
        if len(devices) != len(self.devices):
            raise ValueError(f"node {self.name!r}: duplicate device ids {self.devices!r}")
        if devices and devices[0] < 0:
            raise ValueError(f"node {self.name!r}: negative device id")
        if self.device_type == HUAWEI_NPU and devices and devices[-1] >= MAX_PER_NODE:
            raise ValueError(f"node {self.name!r}: NPU ids are 0..7, got {devices[-1]}")
        object.__setattr__(self, "devices", devices)
        object.__setattr__(self, "unhealthy", frozenset(self.unhealthy))
        if not self.arch:
            object.__setattr__(self, "arch", ARCH[self.device_type])

    @property
    def healthy(self) -> tuple[int, ...]:
        """Device ids that may be allocated (present and not unhealthy)."""
        if not self.unhealthy:
            return self.devices
        return tuple(d for d in self.devices if d not in self.unhealthy)


def capacity(nodes: Iterable[Node]) -> dict[str, int]:
    """Devices per type in *nodes*, healthy or not (what quotas are assigned from)."""
    total: dict[str, int] = {}
    for node in nodes:
        total[node.device_type] = total.get(node.device_type, 0) + len(node.devices)
    return total
