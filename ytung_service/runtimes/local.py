"""The device inventory of the local runtime: simulated from configuration, or detected on this host.

- :func:`parse_simulated` reads ``YTUNG_SIMULATED_DEVICES`` (demos, tests, laptops without devices).
- :func:`detect_nvidia` asks ``nvidia-smi``, :func:`detect_ascend` asks ``npu-smi``; a missing tool or a
  failing one means no devices of that kind, never an error.
- :class:`LocalInventory` picks between the two and caches detection.

The simulated syntax, nodes separated by ``;``, whitespace allowed around every token::

    <node>:<device_type>=<count>[!<unhealthy id>,<unhealthy id>...]

    gpu-node-1:nvidia_gpu_amd64=8;npu-node-1:huawei_npu_arm64=8!3,5;npu-node-2:huawei_npu_arm64=8

Device ids are ``0..count-1``; the architecture follows the type (``amd64``/``arm64``); the ids after ``!``
are present but unhealthy (never allocated). A GPU node has 1–8 GPUs, an NPU node exactly 8 NPUs (two
groups of 4, V8; mark the missing ones unhealthy to simulate a partial node). A blank string is an
inventory without devices.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import re
import socket
import subprocess
import time
from collections.abc import Callable

from ytung_service.i18n import N_
from ytung_service.scheduling import DEVICE_TYPES, HUAWEI_NPU, MAX_PER_NODE, NVIDIA_GPU, Node

from .inventory import InventoryError

log = logging.getLogger(__name__)

ENV_VAR = "YTUNG_SIMULATED_DEVICES"
NVIDIA_SMI = [
    "nvidia-smi",
    "--query-gpu=index,name,memory.total",
    "--format=csv,noheader,nounits",
]
NPU_SMI = ["npu-smi", "info", "-l"]
DETECT_TIMEOUT = 20
"""Seconds a detection tool may take before its devices are considered absent."""

_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_ID = re.compile(r"[0-9]+")
_MACHINE_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}

Run = Callable[..., subprocess.CompletedProcess]


def parse_simulated(spec: str) -> list[Node]:
    """The nodes described by *spec* (the syntax is in the module docstring), in the given order.

    Raises :class:`InventoryError` naming the entry at fault.
    """
    if not spec.strip():
        return []
    nodes: list[Node] = []
    seen: set[str] = set()
    for position, piece in enumerate(spec.split(";"), start=1):
        node = _parse_entry(piece.strip(), position)
        if node.name in seen:
            raise InventoryError(
                N_("Node '{name}' appears more than once in the simulated devices"),
                name=node.name,
            )
        seen.add(node.name)
        nodes.append(node)
    return nodes


def _parse_entry(piece: str, position: int) -> Node:
    if not piece:
        raise InventoryError(
            N_(
                "Entry {position} of the simulated devices is empty; separate nodes with one ';', "
                "e.g. gpu-node-1:nvidia_gpu_amd64=8;npu-node-1:huawei_npu_arm64=8"
            ),
            position=position,
        )
    name, colon, rest = (part.strip() for part in piece.partition(":"))
    device_type, equals, amount = (part.strip() for part in rest.partition("="))
    if not colon or not equals:
        raise InventoryError(
            N_(
                "Cannot read '{piece}' in the simulated devices; write node:device_type=count, "
                "e.g. gpu-node-1:nvidia_gpu_amd64=8"
            ),
            piece=piece,
        )
    if not _NAME.fullmatch(name):
        raise InventoryError(
            N_("Bad node name '{name}' in '{piece}'; use letters, digits, '.', '-' and '_'"),
            name=name,
            piece=piece,
        )
    if device_type not in DEVICE_TYPES:
        raise InventoryError(
            N_("Unknown device type '{device_type}' in '{piece}'; use one of {allowed}"),
            device_type=device_type,
            piece=piece,
            allowed=", ".join(DEVICE_TYPES),
        )
    count_text, bang, unhealthy_text = (part.strip() for part in amount.partition("!"))
    if not _INTEGER.fullmatch(count_text):
        raise InventoryError(
            N_("Device count '{count}' in '{piece}' is not a whole number"),
            count=count_text,
            piece=piece,
        )
    count = int(count_text)
    if device_type == HUAWEI_NPU and count != MAX_PER_NODE:
        raise InventoryError(
            N_(
                "An NPU node has 8 NPUs; got {count} in '{piece}' "
                "(mark missing NPUs unhealthy with !id,id)"
            ),
            count=count,
            piece=piece,
        )
    if not 1 <= count <= MAX_PER_NODE:
        raise InventoryError(
            N_("A GPU node has 1 to 8 GPUs; got {count} in '{piece}'"),
            count=count,
            piece=piece,
        )
    unhealthy: set[int] = set()
    if bang:
        for token in unhealthy_text.split(","):
            token = token.strip()
            if not _ID.fullmatch(token) or int(token) >= count:
                raise InventoryError(
                    N_(
                        "Bad unhealthy devices '{devices}' in '{piece}'; list ids from 0 to {last} "
                        "separated by commas, e.g. !3,5"
                    ),
                    devices=unhealthy_text,
                    piece=piece,
                    last=count - 1,
                )
            unhealthy.add(int(token))
    return Node(name, device_type, tuple(range(count)), unhealthy=frozenset(unhealthy))


def machine_arch(machine: str | None = None) -> str:
    """``amd64``/``arm64`` for ``platform.machine()`` (or *machine*); other names are returned lowered."""
    name = (machine if machine is not None else platform.machine()).lower()
    return _MACHINE_ARCH.get(name, name)


def _run_tool(run: Run, command: list[str]) -> str | None:
    """The stdout of *command*, or ``None`` when the tool is missing, fails or hangs."""
    try:
        result = run(command, capture_output=True, text=True, timeout=DETECT_TIMEOUT, check=False)
    except FileNotFoundError:
        log.debug("%s not found: no such devices on this host", command[0])
        return None
    except (OSError, subprocess.SubprocessError) as e:
        log.warning("%s could not run: %s", command[0], e)
        return None
    if result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip().splitlines()
        log.warning(
            "%s exited with status %s%s; assuming no such devices",
            command[0],
            result.returncode,
            f" ({detail[-1]})" if detail else "",
        )
        return None
    return result.stdout or ""


def detect_nvidia(
    run: Run = subprocess.run, *, host: str | None = None, machine: str | None = None
) -> list[Node]:
    """One node named after this host with the GPUs ``nvidia-smi`` lists, or ``[]``.

    Lines that do not start with a GPU index are skipped with a warning.
    """
    output = _run_tool(run, NVIDIA_SMI)
    if output is None:
        return []
    ids: list[int] = []
    for line in output.splitlines():
        if not line.strip():
            continue
        index = line.split(",", 1)[0].strip()
        if _ID.fullmatch(index) and int(index) not in ids:
            ids.append(int(index))
        else:
            log.warning("nvidia-smi: ignoring unexpected line %r", line)
    if not ids:
        return []
    return [Node(host or socket.gethostname(), NVIDIA_GPU, tuple(ids), arch=machine_arch(machine))]


_NPU_ID = re.compile(r"^\s*NPU ID\s*:\s*([0-9]+)\s*$", re.MULTILINE)
_TOTAL = re.compile(r"^\s*Total Count\s*:\s*([0-9]+)\s*$", re.MULTILINE)


def detect_ascend(
    run: Run = subprocess.run, *, host: str | None = None, machine: str | None = None
) -> list[Node]:
    """One node named after this host with the NPUs ``npu-smi info -l`` lists, or ``[]``.

    The ``NPU ID : N`` lines give the ids; when there are none, ``Total Count : N`` gives ``0..N-1``.
    Ids outside 0–7 (or more than 8 NPUs) are renumbered ``0..`` with a warning, at most 8.
    """
    output = _run_tool(run, NPU_SMI)
    if output is None:
        return []
    ids = sorted({int(match) for match in _NPU_ID.findall(output)})
    total = _TOTAL.search(output)
    if total and ids and int(total.group(1)) != len(ids):
        log.warning("npu-smi: Total Count %s but %d NPU IDs listed", total.group(1), len(ids))
    if not ids and total:
        ids = list(range(int(total.group(1))))
    if not ids:
        if output.strip():
            log.warning("npu-smi: no NPU found in its output")
        return []
    if ids[-1] >= MAX_PER_NODE:
        log.warning("npu-smi: NPU ids %s are outside 0-7; numbering them from 0", ids)
        ids = list(range(min(len(ids), MAX_PER_NODE)))
    arch = machine_arch(machine)
    return [Node(host or socket.gethostname(), HUAWEI_NPU, tuple(ids), arch=arch)]


class LocalInventory:
    """The devices of the local runtime: simulated when configured, else detected on this host.

    *simulated* is a spec for :func:`parse_simulated`; ``None`` reads ``YTUNG_SIMULATED_DEVICES`` (a
    blank or unset variable means detect). A bad spec raises :class:`InventoryError` here, at start-up.
    Detection runs ``nvidia-smi`` and ``npu-smi`` at most once per *refresh_interval* seconds of *clock*;
    GPUs form a node named after the host, NPUs one named ``<host>`` too, or ``<host>-npu`` beside GPUs.
    """

    def __init__(
        self,
        simulated: str | None = None,
        *,
        refresh_interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        run: Run = subprocess.run,
        host: str | None = None,
    ):
        if simulated is None:
            simulated = os.environ.get(ENV_VAR, "").strip() or None
        self.simulated: list[Node] | None = (
            parse_simulated(simulated) if simulated is not None else None
        )
        self.refresh_interval = refresh_interval
        self.clock = clock
        self.run = run
        self.host = host
        self._detected: list[Node] = []
        self._detected_at: float | None = None

    def __repr__(self) -> str:
        source = "simulated" if self.simulated is not None else "detected"
        return f"<{type(self).__name__} {source}>"

    def _fresh(self) -> bool:
        return (
            self._detected_at is not None
            and self.clock() - self._detected_at < self.refresh_interval
        )

    def nodes_now(self) -> list[Node]:
        """The nodes, synchronously (detection may block for a moment when the cache is stale)."""
        if self.simulated is not None:
            return list(self.simulated)
        if not self._fresh():
            self._detected = self._detect()
            self._detected_at = self.clock()
        return list(self._detected)

    async def nodes(self) -> list[Node]:
        """The nodes; a stale detection runs in a thread so the event loop is not blocked."""
        if self.simulated is not None or self._fresh():
            return self.nodes_now()
        return await asyncio.to_thread(self.nodes_now)

    def _detect(self) -> list[Node]:
        host = self.host or socket.gethostname()
        gpus = detect_nvidia(self.run, host=host)
        npus = detect_ascend(self.run, host=host)
        if gpus and npus:
            npus = [
                Node(f"{host}-npu", n.device_type, n.devices, n.arch, n.unhealthy) for n in npus
            ]
        nodes = gpus + npus
        log.info("Detected devices: %s", nodes or "none (CPU only)")
        return nodes
