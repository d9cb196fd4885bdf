"""V6 resource floors and ceilings per device type, as pure data and functions.

Both runtimes read the same table: the Kubernetes spawner turns it into pod ``requests``
(floor) and ``limits`` (ceiling); the local spawner enforces the memory ceiling by watching the
server's process tree. Quantities use Kubernetes notation (``"400Mi"``, ``"80Gi"``, ``"2"``,
``"500m"``).

Configure with ``c.YtungSpawnerMixin.resource_limits`` (see its help); a device type missing from
the table uses the ``"default"`` entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: SPEC V6 defaults: floor 2 CPU / 400 Mi, ceiling 22 CPU / 80 Gi
DEFAULT_LIMITS: dict[str, dict[str, str]] = {
    "default": {
        "cpu_guarantee": "2",
        "mem_guarantee": "400Mi",
        "cpu_limit": "22",
        "mem_limit": "80Gi",
    },
}

_MEM_UNITS = {
    "": 1,
    "k": 1000,
    "M": 1000**2,
    "G": 1000**3,
    "T": 1000**4,
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
    "Ti": 1024**4,
}
_QUANTITY = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$")


def parse_memory(quantity: str | int | float) -> int:
    """Bytes of a Kubernetes memory quantity (``"400Mi"`` → 419430400). ValueError if bad."""
    if isinstance(quantity, int | float) and not isinstance(quantity, bool):
        return int(quantity)
    m = _QUANTITY.match(str(quantity))
    if not m or m.group(2) not in _MEM_UNITS:
        raise ValueError(f"not a memory quantity: {quantity!r} (use e.g. 400Mi, 80Gi)")
    return int(float(m.group(1)) * _MEM_UNITS[m.group(2)])


def parse_cpu(quantity: str | int | float) -> float:
    """Cores of a Kubernetes CPU quantity (``"500m"`` → 0.5). ValueError if bad."""
    if isinstance(quantity, int | float) and not isinstance(quantity, bool):
        return float(quantity)
    m = _QUANTITY.match(str(quantity))
    if not m or m.group(2) not in ("", "m"):
        raise ValueError(f"not a CPU quantity: {quantity!r} (use e.g. 2, 500m)")
    value = float(m.group(1))
    return value / 1000 if m.group(2) == "m" else value


@dataclass(frozen=True)
class Limits:
    """Floor (guarantee) and ceiling (limit) of one workload, in Kubernetes quantities."""

    cpu_guarantee: str
    mem_guarantee: str
    cpu_limit: str
    mem_limit: str

    @property
    def mem_limit_bytes(self) -> int:
        return parse_memory(self.mem_limit)

    @property
    def mem_guarantee_bytes(self) -> int:
        return parse_memory(self.mem_guarantee)

    @property
    def cpu_limit_cores(self) -> float:
        return parse_cpu(self.cpu_limit)

    @property
    def cpu_guarantee_cores(self) -> float:
        return parse_cpu(self.cpu_guarantee)


def validate_table(table: dict) -> dict[str, dict[str, str]]:
    """The table with every quantity checked and floors ≤ ceilings; ValueError says what is wrong."""
    if not isinstance(table, dict):
        raise ValueError("resource_limits must be a dict of device type → limits")
    out = {}
    for device_type, entry in table.items():
        merged = {**DEFAULT_LIMITS["default"], **(entry or {})}
        unknown = set(merged) - set(DEFAULT_LIMITS["default"])
        if unknown:
            raise ValueError(f"{device_type}: unknown keys {sorted(unknown)}")
        if parse_cpu(merged["cpu_guarantee"]) > parse_cpu(merged["cpu_limit"]):
            raise ValueError(f"{device_type}: cpu_guarantee is above cpu_limit")
        if parse_memory(merged["mem_guarantee"]) > parse_memory(merged["mem_limit"]):
            raise ValueError(f"{device_type}: mem_guarantee is above mem_limit")
        out[device_type] = {k: str(v) for k, v in merged.items()}
    return out


def limits_for(table: dict[str, dict[str, str]], device_type: str | None) -> Limits:
    """The limits of a workload of ``device_type`` (``None``/``""`` = CPU only)."""
    entry = table.get(device_type or "cpu") or table.get("default") or DEFAULT_LIMITS["default"]
    merged = {**DEFAULT_LIMITS["default"], **entry}
    return Limits(**merged)
