"""What every runtime's device inventory shares: :class:`Inventory` and :class:`InventoryError`.

An inventory answers one question, ``await inventory.nodes()``: the :class:`~ytung_service.scheduling.Node`
objects the scheduler may place workloads on right now (nodes with devices only; CPU-only machines are
not listed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ytung_service.scheduling import Node


class InventoryError(ValueError):
    """A device inventory that cannot be read as configured (a bad ``YTUNG_SIMULATED_DEVICES``, …).

    ``message`` is the English message id (marked with ``N_``), ``params`` fill its ``{placeholders}``;
    ``str()`` gives the formatted English text. Translate with
    ``translator(lang)(error.message, **error.params)``.
    """

    def __init__(self, message: str, **params: Any):
        super().__init__(message.format(**params) if params else message)
        self.message = message
        self.params = params


@runtime_checkable
class Inventory(Protocol):
    """The interface of :class:`~.local.LocalInventory` and :class:`~.kubernetes.KubernetesInventory`."""

    async def nodes(self) -> list[Node]:
        """The schedulable nodes with devices, sorted by name."""
        ...
