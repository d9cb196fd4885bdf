"""Small named fakes for the runtime tests.

- :class:`FakeTools`: imitates ``subprocess.run`` for ``nvidia-smi`` and ``npu-smi`` with recorded outputs
  (:data:`NVIDIA_SMI_8_H100`, :data:`NPU_SMI_8_ASCEND`), missing binaries, failures and hangs.
- :class:`FakeClock`: a monotonic clock the test advances by hand.
- :class:`FakeCoreV1`: imitates ``kubernetes_asyncio.client.CoreV1Api.list_node`` with fixed Node objects.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from typing import Any

# `nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader,nounits` on an 8-GPU server
NVIDIA_SMI_8_H100 = "".join(f"{i}, NVIDIA H100 80GB HBM3, 81559\n" for i in range(8))

# `npu-smi info -l` on an Atlas 800T A2 (8 × Ascend 910B), tab-indented as printed
NPU_SMI_8_ASCEND = "\tTotal Count                    : 8\n\n" + "".join(
    f"\tNPU ID                         : {i}\n"
    "\tProduct Name                   : IT21PDDA01\n"
    f"\tSerial Number                  : 033VNY10MC00025{i}\n"
    "\tChip Count                     : 1\n\n"
    for i in range(8)
)


@dataclass
class FakeTools:
    """``subprocess.run`` for the detection tools: ``outputs[tool]`` is stdout (exit 0), an
    ``(returncode, stdout, stderr)`` tuple, or an exception to raise; a tool not listed is missing."""

    outputs: dict[str, Any] = field(default_factory=dict)
    calls: list[list[str]] = field(default_factory=list)

    def __call__(self, command, **kwargs) -> subprocess.CompletedProcess:
        self.calls.append(list(command))
        assert kwargs.get("timeout"), "detection must not hang forever"
        if command[0] not in self.outputs:
            raise FileNotFoundError(2, "No such file or directory", command[0])
        out = self.outputs[command[0]]
        if isinstance(out, BaseException):
            raise out
        code, stdout, stderr = (0, out, "") if isinstance(out, str) else out
        return subprocess.CompletedProcess(command, code, stdout, stderr)


@dataclass
class FakeClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeApiClient:
    """The one method of ``ApiClient`` the inventory uses; the fake's objects are dicts already."""

    def sanitize_for_serialization(self, obj):
        return obj.to_dict() if hasattr(obj, "to_dict") else obj


@dataclass
class FakeCoreV1:
    """``CoreV1Api`` with ``list_node`` answering a ``V1NodeList``-like object of *items*."""

    items: list[dict]
    calls: int = 0
    api_client: FakeApiClient = field(default_factory=FakeApiClient)

    async def list_node(self, **kwargs):
        self.calls += 1
        return _NodeList(self.items)


@dataclass
class _NodeList:
    items: list[dict]

    def to_dict(self) -> dict:
        return {"apiVersion": "v1", "kind": "NodeList", "items": self.items}
